"""Health that tells the truth: /livez, /readyz without the broker, /healthz and the broker metric."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from alert_gateway.clock import FakeClock
from alert_gateway.web.app import make_app
from tests.brokers import PrivateBroker
from tests.conftest import PG_ADMIN_DSN
from tests.harness import WAIT_SECONDS, gateway_settings, running_gateway


async def get(http: TestClient[Any, Any], path: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of one GET."""
    response = await http.get(path)
    body: dict[str, Any] = await response.json()
    return response.status, body


async def test_readyz_stays_200_while_the_broker_is_down_and_healthz_and_the_metric_say_so(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Broker killed: /readyz stays 200 (webhooks keep flowing), /healthz and the gauge show it."""
    broker = PrivateBroker(tmp_path)
    await broker.start()
    try:
        settings = gateway_settings(database_url, topic_root, mqtt_url=broker.url)
        async with (
            running_gateway(settings, clock=clock) as (gateway, _changes),
            TestClient(TestServer(make_app(gateway.services, gateway))) as http,
        ):
            registry = gateway.services.metrics.registry
            assert await get(http, "/livez") == (200, {"status": "ok"})
            status, ready = await get(http, "/readyz")
            assert (status, ready["ready"]) == (200, True), ready
            status, health = await get(http, "/healthz")
            assert (status, health["status"], health["checks"]["mqtt"]) == (200, "ok", "ok"), health
            assert registry.get_sample_value("alert_gateway_mqtt_connected") == 1

            await broker.kill()
            async with asyncio.timeout(WAIT_SECONDS):
                await gateway.services.ingest.connection.disconnected.wait()

            status, ready = await get(http, "/readyz")
            assert (status, ready["ready"]) == (200, True), ready
            assert "mqtt" not in ready["checks"], ready
            status, health = await get(http, "/healthz")
            assert (status, health["status"], health["ready"]) == (200, "degraded", True), health
            assert health["checks"]["mqtt"] == "disconnected", health
            assert health["checks"]["database"] == "ok", health
            assert registry.get_sample_value("alert_gateway_mqtt_connected") == 0
            assert await get(http, "/livez") == (200, {"status": "ok"})
    finally:
        await broker.kill()


async def test_readyz_is_503_when_the_database_is_unreachable(
    topic_root: str, clock: FakeClock
) -> None:
    """A database that cannot be reached takes the replica out (503), while /livez still answers."""
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    settings = gateway_settings(f"{base}/agtest_missing_{uuid.uuid4().hex[:12]}", topic_root)
    async with running_gateway(settings, clock=clock, schema=False) as (gateway, _changes):
        async with TestClient(TestServer(make_app(gateway.services, gateway))) as http:
            status, ready = await get(http, "/readyz")
            assert status == 503, ready
            assert ready["checks"]["database"].startswith("error: "), ready
            status, health = await get(http, "/healthz")
            assert (status, health["status"], health["ready"]) == (200, "degraded", False), health
            assert (await http.get("/livez")).status == 200


async def test_process_metrics_are_exported_beside_the_gateways(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """/metrics carries memory, CPU, open fds and start time of the process, and python_info."""
    async with (
        running_gateway(gateway_settings(sqlite_url, topic_root), clock=clock) as (gateway, _),
        TestClient(TestServer(make_app(gateway.services, gateway))) as http,
    ):
        text = await (await http.get("/metrics")).text()
    for family in (
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
        "python_info",
        "alert_gateway_mqtt_connected",
    ):
        assert f"\n{family}" in text, f"{family} missing from /metrics"
