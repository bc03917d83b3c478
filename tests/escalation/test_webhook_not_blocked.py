"""A Twilio webhook answers at once even when the device feedback it causes waits on a stuck broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt

from alert_gateway.clock import FakeClock
from alert_gateway.ingest.connection import PUBLISH_TIMEOUT_SECONDS
from devices.contract import Topics
from tests.brokers import PrivateBroker
from tests.harness import DeviceSide

from .env import DAUGHTER, escalation_env, policies_file, seed

ONE_SMS_STEP = """
[[policy]]
name = "default"
redial = false
  [[policy.step]]
  targets = ["family:1"]
  channels = ["sms"]
  wait_seconds = 60
"""


async def test_the_daughters_reply_is_answered_while_the_broker_is_stuck(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """The "1" reply gets its answer before a PUBACK could time out; the device is told once it thaws."""
    broker = PrivateBroker(tmp_path)
    await broker.start()
    try:
        await seed(sqlite_url)
        async with escalation_env(sqlite_url, topic_root, clock, mqtt_url=broker.url,
                                  policies_file=policies_file(tmp_path, ONE_SMS_STEP)) as env, \
                aiomqtt.Client("127.0.0.1", broker.port) as client:
            device = DeviceSide(client, Topics(topic_root), clock)
            await device.watch_feedback()
            await device.alarm("pendant-1", "m-1", "sos")
            assert (await device.next_feedback())[1]["state"] == "received"
            await env.until_fake(lambda f: env.sent(DAUGHTER, "Messages"))

            broker.pause()  # the feedback publish now waits for a PUBACK that does not come
            loop = asyncio.get_running_loop()
            try:
                started = loop.time()
                replies = await env.reply_sms(DAUGHTER, "1")
                took = loop.time() - started
            finally:
                broker.resume()
            assert replies, "the acknowledgement got no SMS answer"
            assert took < PUBLISH_TIMEOUT_SECONDS, f"the webhook waited {took:.1f} s for MQTT"
            states = [(await device.next_feedback())[1]["state"] for _ in range(2)]
            assert states == ["acknowledged", "help_on_the_way"]
    finally:
        await broker.kill()
