"""On the wire: a message we have not committed (so not acked) comes back; an acked one does not."""

from __future__ import annotations

import asyncio
import uuid

import aiomqtt

from alert_gateway.ingest.acks import ack
from alert_gateway.ingest.connection import MqttConnection, subscriptions
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


def _connection(topic_root: str, name: str) -> MqttConnection:
    settings = Settings(
        mqtt_url=MQTT_URL,
        mqtt_topic_root=topic_root,
        mqtt_client_id=f"agtest-{name}-{uuid.uuid4().hex[:8]}",
    )
    return MqttConnection(settings, Metrics(), _noop)


async def test_unacked_message_is_redelivered_after_reconnect_and_acked_one_is_not(
    topic_root: str,
) -> None:
    """The gateway's own client factory: manual ack plus a persistent session give at-least-once to commit."""
    connection = _connection(topic_root, "ack")
    topic = f"{topic_root}/pendant-1/alarm"
    async with connection.make_client() as gateway:
        await gateway.subscribe(subscriptions(connection.topics, None))
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


async def test_heartbeats_need_no_puback_and_are_not_redelivered(topic_root: str) -> None:
    """Heartbeats published at QoS 1 reach the gateway's subscription at QoS 0: unacked, none comes back."""
    connection = _connection(topic_root, "hb")
    async with connection.make_client() as gateway, aiomqtt.Client("127.0.0.1", 1883) as device:
        await gateway.subscribe(subscriptions(connection.topics, None))
        for i in range(50):
            await device.publish(f"{topic_root}/p-{i}/heartbeat", b"{}", qos=1)
        seen = [await _next(gateway) for _ in range(50)]  # and not one acked
    assert sorted(m.topic.value for m in seen) == sorted(f"{topic_root}/p-{i}/heartbeat" for i in range(50))
    assert {m.qos for m in seen} == {0}

    async with connection.make_client() as gateway, aiomqtt.Client("127.0.0.1", 1883) as device:
        await device.publish(f"{topic_root}/p-0/alarm", b"sentinel", qos=1)
        assert (await _next(gateway)).payload == b"sentinel"  # no heartbeat was redelivered
