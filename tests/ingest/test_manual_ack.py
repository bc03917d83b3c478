"""On the wire: a message we have not committed (so not acked) comes back; an acked one does not."""

from __future__ import annotations

import asyncio
import uuid

import aiomqtt

from alert_gateway.ingest.acks import AckBatch, ack
from alert_gateway.ingest.connection import MqttConnection
from alert_gateway.metrics import Metrics
from alert_gateway.settings import Settings
from tests.conftest import MQTT_URL


async def _next(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(10):
        async for message in client.messages:
            return message
    raise AssertionError("no message")


async def _noop(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
    return None


async def test_unacked_message_is_redelivered_after_reconnect_and_acked_one_is_not(
    topic_root: str,
) -> None:
    """The gateway's own client factory: manual ack plus a persistent session give at-least-once to commit."""
    settings = Settings(
        mqtt_url=MQTT_URL,
        mqtt_topic_root=topic_root,
        mqtt_client_id=f"agtest-ack-{uuid.uuid4().hex[:8]}",
    )
    connection = MqttConnection(settings, Metrics(), _noop)
    topic = f"{topic_root}/pendant-1/alarm"
    async with connection.make_client() as gateway:
        await gateway.subscribe(f"{topic_root}/#", qos=1)
    async with aiomqtt.Client("127.0.0.1", 1883) as device:
        await device.publish(topic, b"first", qos=1)

    async with connection.make_client() as gateway:  # crash stand-in: received, never acked
        assert (await _next(gateway)).payload == b"first"

    async with connection.make_client() as gateway:
        again = await _next(gateway)
        assert again.payload == b"first"  # the broker kept it for us
        ack(gateway, again)

    async with connection.make_client() as gateway, aiomqtt.Client("127.0.0.1", 1883) as device:
        await device.publish(topic, b"sentinel", qos=1)
        assert (await _next(gateway)).payload == b"sentinel"  # "first" was not sent a third time


async def test_batched_receipt_acks_reach_the_broker(topic_root: str) -> None:
    """Heartbeat PUBACKs sent together (AckBatch) are real acks: none of the burst comes back."""
    settings = Settings(
        mqtt_url=MQTT_URL,
        mqtt_topic_root=topic_root,
        mqtt_client_id=f"agtest-ackbatch-{uuid.uuid4().hex[:8]}",
    )
    connection = MqttConnection(settings, Metrics(), _noop)
    async with connection.make_client() as gateway:
        await gateway.subscribe(f"{topic_root}/#", qos=1)
    async with aiomqtt.Client("127.0.0.1", 1883) as device:
        for i in range(50):
            await device.publish(f"{topic_root}/p-{i}/heartbeat", b"{}", qos=1)

    batch = AckBatch()
    async with connection.make_client() as gateway:
        seen = [await _next(gateway) for _ in range(50)]
        for message in seen:
            batch.add(gateway, message)
        batch.flush()  # what the loop would run on its next turn
        expected = sorted(f"{topic_root}/p-{i}/heartbeat" for i in range(50))
        assert sorted(m.topic.value for m in seen) == expected

    async with connection.make_client() as gateway, aiomqtt.Client("127.0.0.1", 1883) as device:
        await device.publish(f"{topic_root}/p-0/alarm", b"sentinel", qos=1)
        assert (await _next(gateway)).payload == b"sentinel"  # no heartbeat was redelivered
