"""A gateway process killed with SIGKILL loses nothing: every accepted alarm is stored exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from datetime import UTC, datetime

import aiomqtt
from sqlalchemy import func
from sqlmodel import select

from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.migrate import upgrade
from alert_gateway.db.models import Alert, InboundMessage
from tests.brokers import free_port
from tests.conftest import MQTT_URL
from tests.processes import gateway_process

DEVICES = 500


async def _counts(url: str) -> tuple[int, int, int]:
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        inbound = (await s.exec(select(func.count()).select_from(InboundMessage))).one()
        distinct = (await s.exec(select(func.count(func.distinct(InboundMessage.device_id))))).one()
        alerts = (await s.exec(select(func.count()).select_from(Alert))).one()
    await engine.dispose()
    return inbound, distinct, alerts


async def _collect_receipts(watcher: aiomqtt.Client, seen: set[str], want: int) -> None:
    """Each `received` is published only after commit, so it proves the alarm is stored."""
    async for message in watcher.messages:
        if json.loads(message.payload)["state"] == "received":  # type: ignore[arg-type]
            seen.add(message.topic.value.split("/")[-2])
            if len(seen) >= want:
                return


async def test_sigkill_mid_storm_then_restart_stores_every_alarm_exactly_once(
    database_url: str, topic_root: str
) -> None:
    """500 devices publish while the gateway is SIGKILLed; after restart all 500 are stored once."""
    await upgrade(database_url)
    env = {
        "ALERT_GATEWAY_DATABASE_URL": database_url,
        "ALERT_GATEWAY_MQTT_URL": MQTT_URL,
        "ALERT_GATEWAY_MQTT_TOPIC_ROOT": topic_root,
        "ALERT_GATEWAY_MQTT_CLIENT_ID": f"agtest-crash-{uuid.uuid4().hex[:8]}",
        "ALERT_GATEWAY_HTTP_PORT": str(free_port()),
        "ALERT_GATEWAY_INGEST_BATCH_SIZE": "50",
    }
    ts = datetime.now(UTC).isoformat()
    receipts: set[str] = set()
    async with aiomqtt.Client("127.0.0.1", 1883) as watcher:
        await watcher.subscribe(f"{topic_root}/+/feedback", qos=1)
        collector = asyncio.create_task(_collect_receipts(watcher, receipts, DEVICES))
        async with gateway_process(env) as first, aiomqtt.Client("127.0.0.1", 1883) as devices:
            for n in range(DEVICES):
                payload = f'{{"id": "a-{n}", "type": "sos", "ts": "{ts}"}}'.encode()
                await devices.publish(f"{topic_root}/dev-{n:04d}/alarm", payload, qos=1)
                if n == DEVICES // 3:
                    first.send_signal(signal.SIGKILL)  # mid-storm, without warning
            await first.wait()
            # devices re-publish until they see `received`; repeats must not double anything
            for n in range(DEVICES):
                if f"dev-{n:04d}" not in receipts:
                    payload = f'{{"id": "a-{n}", "type": "sos", "ts": "{ts}"}}'.encode()
                    await devices.publish(f"{topic_root}/dev-{n:04d}/alarm", payload, qos=1)
        async with gateway_process(env):
            async with asyncio.timeout(60):
                await collector
    assert await _counts(database_url) == (DEVICES, DEVICES, DEVICES)
