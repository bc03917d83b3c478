"""The gateway's subscriptions on the real broker: each topic once, at its channel's QoS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from alert_gateway.ingest.acks import ack
from alert_gateway.ingest.connection import MqttConnection, refused
from alert_gateway.metrics import Metrics
from alert_gateway.settings import Settings
from tests.conftest import MQTT_URL

END = b"end"


@asynccontextmanager
async def gateway_connection(
    topic_root: str, *, share_group: str | None = None, client_id: str | None = None
) -> AsyncIterator[list[tuple[str, int]]]:
    """The gateway's MqttConnection running; yields (topic below the root, QoS) of each message until END."""
    settings = Settings(
        mqtt_url=MQTT_URL,
        mqtt_topic_root=topic_root,
        mqtt_share_group=share_group,
        mqtt_client_id=client_id or f"agtest-subs-{uuid.uuid4().hex[:8]}",
    )
    seen: list[tuple[str, int]] = []
    ended = asyncio.Event()

    async def handler(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        ack(client, message)
        if message.payload == END:
            ended.set()
        else:
            seen.append((message.topic.value.removeprefix(topic_root) or "<root>", message.qos))

    connection = MqttConnection(settings, Metrics(), handler)
    stop = asyncio.Event()
    runner = asyncio.create_task(connection.run(stop))
    try:
        async with asyncio.timeout(10):
            await connection.connected.wait()
        yield seen
        async with asyncio.timeout(10):
            await ended.wait()
    finally:
        stop.set()
        await runner


async def _publish(topics: list[str]) -> None:
    async with aiomqtt.Client("127.0.0.1", 1883) as device:
        for topic in topics:
            await device.publish(topic, b"{}", qos=1)
        await device.publish(topics[0], END, qos=1)  # one connection: it arrives last


@pytest.mark.parametrize("share_group", [None, "gateways"])
async def test_each_topic_arrives_once_at_its_channels_qos(topic_root: str, share_group: str | None) -> None:
    """Alarms, cancels, status and malformed topics come at QoS 1, heartbeats and activity at QoS 0."""
    below = ["/p-1/alarm", "/p-1/cancel", "/p-1/status", "/p-1/heartbeat", "/p-1/activity",
             "/p-1/feedback", "", "/p-1", "/p-1/x/alarm", "/p-1/x/y/z"]
    async with gateway_connection(topic_root, share_group=share_group) as seen:
        await _publish([topic_root + b for b in below])
    assert seen == [("/p-1/alarm", 1), ("/p-1/cancel", 1), ("/p-1/status", 1), ("/p-1/heartbeat", 0),
                    ("/p-1/activity", 0), ("<root>", 1), ("/p-1", 1), ("/p-1/x/alarm", 1),
                    ("/p-1/x/y/z", 1)]  # the gateway's own feedback is not subscribed


async def test_an_older_sessions_whole_tree_subscription_is_dropped(topic_root: str) -> None:
    """A persistent session left subscribed to the whole tree at QoS 1 delivers a heartbeat once, at QoS 0."""
    client_id = f"agtest-subs-old-{uuid.uuid4().hex[:8]}"
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=client_id, clean_session=False) as old:
        await old.subscribe(f"{topic_root}/#", qos=1)
    async with gateway_connection(topic_root, client_id=client_id) as seen:
        await _publish([f"{topic_root}/p-1/heartbeat", f"{topic_root}/p-1/alarm"])
    assert seen == [("/p-1/heartbeat", 0), ("/p-1/alarm", 1)]


def test_a_filter_granted_less_than_asked_is_refused() -> None:
    """A SUBACK failure or a QoS 0 grant for a QoS 1 filter names that filter; QoS 0 as asked is fine."""
    wanted = [("r/+/alarm", 1), ("r/+/heartbeat", 0), ("r/+/cancel", 1)]
    granted = [ReasonCode(PacketTypes.SUBACK, identifier=0), ReasonCode(PacketTypes.SUBACK, identifier=0),
               ReasonCode(PacketTypes.SUBACK, identifier=0x80)]
    assert refused(wanted, granted) == ["r/+/alarm", "r/+/cancel"]
    assert refused(wanted, [1, 0, 1]) == []
    assert refused(wanted, [1, 0]) == ["r/+/cancel"]  # no code at all for it
