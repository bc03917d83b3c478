"""An ingest that cannot store what it reads says so at once: /readyz detail and a metric."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine
from alert_gateway.db.models import Alert
from alert_gateway.web.app import make_app
from tests.harness import device_client, gateway_settings, running_gateway


async def test_a_blocked_database_shows_as_a_growing_ingest_age_until_the_alarm_is_stored(
    pg_url: str, topic_root: str, clock: FakeClock
) -> None:
    """While a lock holds the alarm's insert, /readyz and the gauge show its age; stored, they read 0."""
    settings = gateway_settings(pg_url, topic_root)
    blocker = make_engine(pg_url)
    try:
        async with (
            running_gateway(settings, clock=clock) as (gateway, changes),
            device_client(topic_root, clock=clock) as dev,
            TestClient(TestServer(make_app(gateway.services, gateway))) as http,
            blocker.connect() as lock,
        ):
            registry = gateway.services.metrics.registry
            await lock.execute(text("LOCK TABLE inboundmessage IN ACCESS EXCLUSIVE MODE"))
            await dev.alarm("pendant-1", "a1")

            async def readyz() -> dict[str, Any]:
                response = await http.get("/readyz")
                body: dict[str, Any] = await response.json()
                assert response.status == 200, body  # informational: readiness does not depend on it
                return body

            async def waiting() -> dict[str, Any] | None:
                body = await readyz()
                return body if body["ingest"]["oldest_pending_seconds"] > 0 else None

            await changes.until(waiting)
            assert registry.get_sample_value("alert_gateway_ingest_oldest_pending_seconds")
            await lock.rollback()

            async def stored() -> Alert | None:
                async with gateway.services.sessions() as s:
                    return (await s.exec(select(Alert))).first()

            await changes.until(stored)
            await gateway.services.ingest.wait_idle()
            assert (await readyz())["ingest"] == {"backlog": 0, "oldest_pending_seconds": 0}
            assert registry.get_sample_value("alert_gateway_ingest_oldest_pending_seconds") == 0
    finally:
        await blocker.dispose()
