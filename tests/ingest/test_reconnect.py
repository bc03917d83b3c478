"""The gateway's own reconnect loop: a broker that dies and comes back is reconnected to."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert
from alert_gateway.gateway import Gateway
from alert_gateway.web.app import make_app
from tests.brokers import PrivateBroker
from tests.harness import gateway_settings, running_gateway


async def test_gateway_reconnects_after_broker_restart_and_takes_the_next_alarm(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Broker killed and restarted: the gateway counts a reconnect and stores the next alarm."""
    broker = PrivateBroker(tmp_path)
    await broker.start()
    try:
        settings = gateway_settings(
            sqlite_url, topic_root, mqtt_url=broker.url, mqtt_reconnect_max_seconds=0.5
        )
        async with running_gateway(settings, clock=clock) as (gateway, changes):
            connection = gateway.services.ingest.connection
            await broker.kill()
            async with asyncio.timeout(10):
                await connection.disconnected.wait()
            assert await broker_check(gateway) == "disconnected"
            await broker.start()
            async with asyncio.timeout(15):
                await connection.connected.wait()
            async with aiomqtt.Client("127.0.0.1", broker.port) as dev:
                payload = f'{{"id": "r1", "type": "sos", "ts": "{clock.now().isoformat()}"}}'
                await dev.publish(f"{topic_root}/pendant-1/alarm", payload.encode(), qos=1)

            async def stored() -> Alert | None:
                async with gateway.services.sessions() as s:
                    return (await s.exec(select(Alert))).first()

            await changes.until(stored)
            reconnects = gateway.services.metrics.registry.get_sample_value(
                "alert_gateway_mqtt_reconnects_total"
            )
            assert reconnects is not None and reconnects >= 1
    finally:
        await broker.kill()


async def broker_check(gateway: Gateway) -> str:
    """The broker's state as /healthz reports it (readiness does not depend on the broker)."""
    async with TestClient(TestServer(make_app(gateway.services, gateway))) as client:
        response = await client.get("/healthz")
        return str((await response.json())["checks"]["mqtt"])
