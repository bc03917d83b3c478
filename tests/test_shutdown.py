"""SIGTERM: stop taking messages, finish what is in flight, flush heartbeats, exit 0 within a bound."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from datetime import UTC, datetime

import aiomqtt

from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.migrate import upgrade
from alert_gateway.db.models import Device, Resident
from tests.brokers import free_port
from tests.conftest import MQTT_URL
from tests.processes import gateway_process

SHUTDOWN_BOUND_SECONDS = 25


async def test_sigterm_flushes_batched_heartbeats_and_exits_cleanly(sqlite_url: str, topic_root: str) -> None:
    """Heartbeats held in memory reach the database on SIGTERM, and the process exits 0 in time."""
    await upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    async with make_sessions(engine)() as s:
        s.add(Resident(id="r-1", name="山田 花子"))
        await s.flush()
        s.add(Device(id="hub-1", resident_id="r-1", kind="base_unit"))
        await s.commit()
    env = {
        "ALERT_GATEWAY_DATABASE_URL": sqlite_url,
        "ALERT_GATEWAY_MQTT_URL": MQTT_URL,
        "ALERT_GATEWAY_MQTT_TOPIC_ROOT": topic_root,
        "ALERT_GATEWAY_MQTT_CLIENT_ID": f"agtest-term-{uuid.uuid4().hex[:8]}",
        "ALERT_GATEWAY_HTTP_PORT": str(free_port()),
        "ALERT_GATEWAY_HEARTBEAT_FLUSH_SECONDS": "3600",  # only the shutdown flush can write them
    }
    now = datetime.now(UTC).isoformat()
    async with gateway_process(env) as proc, aiomqtt.Client("127.0.0.1", 1883) as dev:
        await dev.subscribe(f"{topic_root}/hub-1/feedback", qos=1)
        beat = json.dumps({"ts": now, "battery": 64}).encode()
        for _ in range(5):
            await dev.publish(f"{topic_root}/hub-1/heartbeat", beat, qos=1)
        alarm = json.dumps({"id": "t-1", "type": "test", "ts": now}).encode()
        await dev.publish(f"{topic_root}/hub-1/alarm", alarm, qos=1)  # after the beats on one connection
        async with asyncio.timeout(15):
            async for _message in dev.messages:
                break  # `received`: the heartbeats before it are in the gateway's memory
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(SHUTDOWN_BOUND_SECONDS):
            assert await proc.wait() == 0
    async with make_sessions(engine)() as s:
        device = await s.get(Device, "hub-1")
    await engine.dispose()
    assert device is not None and device.battery == 64 and device.last_seen_at is not None
