"""paho tuning: buffered reads and shared v5 property tables decode exactly what paho decodes.

And it is used only where paho and aiomqtt still have the private parts it relies on.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import aiomqtt
import paho.mqtt._packet as paho_packet
import pytest
from paho.mqtt._packet import decode_publish
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.matcher import MQTTMatcher
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from alert_gateway.ingest.acks import ack
from alert_gateway.ingest.connection import MqttConnection
from alert_gateway.ingest.pahotune import BufferedSocket, LeanMatcher, LeanProperties, missing_internals
from alert_gateway.metrics import Metrics
from alert_gateway.settings import Settings
from tests.conftest import MQTT_URL


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_small_reads_come_from_one_socket_read(pair: tuple[socket.socket, socket.socket]) -> None:
    """Three packets written at once are read byte by byte from one recv; pending says how much."""
    writer, reader = pair
    writer.sendall(b"\x40\x02\x00\x01" * 3)
    buf = BufferedSocket(reader)
    assert buf.recv(1) == b"\x40" and buf.pending() == 11
    assert buf.recv(3) == b"\x02\x00\x01"
    assert buf.recv(100) == b"\x40\x02\x00\x01\x40\x02\x00\x01" and buf.pending() == 0
    with pytest.raises(BlockingIOError):
        buf.recv(1)


def test_a_packet_cut_by_the_chunk_waits_for_the_next_readable_event(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """After one socket read the buffer does not read again until pending() reported empty."""
    writer, reader = pair
    writer.sendall(b"\x40\x02")
    buf = BufferedSocket(reader)
    assert buf.recv(2) == b"\x40\x02"
    writer.sendall(b"\x00\x07")
    with pytest.raises(BlockingIOError):  # still inside the same aiomqtt read callback
        buf.recv(2)
    assert buf.pending() == 0  # aiomqtt's callback ends here
    assert buf.recv(2) == b"\x00\x07"  # the next readable event


def test_end_of_stream_is_passed_through(pair: tuple[socket.socket, socket.socket]) -> None:
    """A closed connection reads as b'' so paho sees the loss."""
    writer, reader = pair
    writer.close()
    assert BufferedSocket(reader).recv(1) == b""


def test_lean_properties_decode_like_paho() -> None:
    """A v5 PUBLISH with properties decodes to the same topic, payload and properties."""
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("k", "v")]
    props.ContentType = "application/json"
    props.MessageExpiryInterval = 30
    topic = b"eldercare/v1/devices/p-1/heartbeat"
    body = len(topic).to_bytes(2, "big") + topic + b"\x00\x07" + props.pack() + b'{"a":1}'
    decoded = []
    for cls in (Properties, LeanProperties):
        original = paho_packet.Properties
        paho_packet.Properties = cls  # type: ignore[misc]
        try:
            decoded.append(decode_publish(0x32, body, MQTTProtocolVersion.MQTTv5))
        finally:
            paho_packet.Properties = original  # type: ignore[misc]
    stock, lean = decoded
    assert isinstance(lean.properties, LeanProperties)
    assert (lean.topic, lean.mid, lean.payload) == (stock.topic, stock.mid, stock.payload)
    assert str(lean.properties) == str(stock.properties)
    assert lean.properties.UserProperty == [("k", "v")]
    empty = LeanProperties(PacketTypes.PUBLISH)
    empty.unpack(b"\x00")
    assert empty.isEmpty() and str(empty) == str(Properties(PacketTypes.PUBLISH))


def test_lean_matcher_is_empty_until_a_filter_is_added() -> None:
    """No filters: no matches without a walk; with one, the same matches as paho's matcher."""
    lean, stock = LeanMatcher(), MQTTMatcher()
    assert list(lean.iter_match("a/b/c")) == []
    for matcher in (lean, stock):
        matcher["a/+/c"] = "cb"
    assert list(lean.iter_match("a/b/c")) == list(stock.iter_match("a/b/c")) == ["cb"]
    assert list(lean.iter_match("a/b/d")) == []


async def test_the_pinned_libraries_have_every_internal_the_tuning_uses() -> None:
    """A real aiomqtt client, paho's packet module and Properties lack nothing: the tuned reader is used."""
    assert missing_internals(aiomqtt.Client("127.0.0.1"), paho_packet, Properties(PacketTypes.PUBLISH)) == []


def test_anything_missing_means_the_stock_reader() -> None:
    """Each private name that is gone is named, from an object lacking all to one lacking a single one."""
    assert missing_internals(object(), None, object()) == [
        "aiomqtt.Client._client._create_socket",
        "aiomqtt.Client._client._on_message_filtered._root._children",
        "aiomqtt.Client._queue.get_nowait",
        "paho.mqtt._packet.Properties",
        "paho Properties.types",
        "paho Properties.names",
        "paho Properties.properties",
    ]
    paho = SimpleNamespace(_create_socket=None, _on_message_filtered=SimpleNamespace(_root=object()))
    client = SimpleNamespace(_client=paho, _queue=asyncio.Queue[object]())
    assert missing_internals(client, paho_packet, Properties(PacketTypes.PUBLISH)) == [
        "aiomqtt.Client._client._on_message_filtered._root._children"
    ]


async def test_the_stock_reader_takes_a_whole_burst_in_order(topic_root: str) -> None:
    """A connection on aiomqtt's own reader (the fallback) hands over every message of a burst, in order."""
    settings = Settings(mqtt_url=MQTT_URL, mqtt_topic_root=topic_root,
                        mqtt_client_id=f"agtest-stock-{uuid.uuid4().hex[:8]}")
    received: list[bytes] = []
    done = asyncio.Event()

    async def handler(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        ack(client, message)
        received.append(bytes(message.payload))  # type: ignore[arg-type]
        if len(received) == 200:
            done.set()

    metrics = Metrics()
    connection = MqttConnection(settings, metrics, handler)
    connection.reader_tuned = False  # what the start-up check decides when an internal is gone
    stop = asyncio.Event()
    runner = asyncio.create_task(connection.run(stop))
    try:
        async with asyncio.timeout(10):
            await connection.connected.wait()
            async with aiomqtt.Client("127.0.0.1", 1883) as device:
                for i in range(200):
                    await device.publish(f"{topic_root}/p-1/alarm", str(i).encode(), qos=1)
            await done.wait()
    finally:
        stop.set()
        await runner
    assert received == [str(i).encode() for i in range(200)]
