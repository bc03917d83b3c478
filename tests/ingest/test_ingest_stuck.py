"""An ingest that cannot store what it reads says so at once: /readyz detail and a metric."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine
from alert_gateway.db.models import Alert, RejectedMessage
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


async def test_a_connection_lost_mid_insert_is_retried_never_rejected(
    pg_url: str, topic_root: str, clock: FakeClock
) -> None:
    """The writer's backend is killed while it waits: the alarm is retried and stored once, not rejected."""
    settings = gateway_settings(pg_url, topic_root)
    admin = make_engine(pg_url)
    waiting_pids = text("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query LIKE '%INSERT INTO inboundmessage%'")  # alone, or in a WITH
    try:
        async with (
            running_gateway(settings, clock=clock) as (gateway, changes),
            device_client(topic_root, clock=clock) as dev,
            admin.connect() as lock,
            admin.connect() as watch,
        ):
            await lock.execute(text("LOCK TABLE inboundmessage IN ACCESS EXCLUSIVE MODE"))
            await dev.alarm("pendant-1", "a1")

            async def blocked(other_than: int = 0) -> int | None:
                pids = (await watch.execute(waiting_pids)).scalars().all()
                await watch.rollback()  # a fresh snapshot of pg_stat_activity next time
                return next((p for p in pids if p != other_than), None)

            first = await changes.until(blocked)
            await watch.execute(text(f"SELECT pg_terminate_backend({first})"))
            await watch.rollback()
            await changes.until(lambda: blocked(other_than=first))  # retried on a new connection
            await lock.rollback()

            async def stored() -> list[Alert] | None:
                async with gateway.services.sessions() as s:
                    return list((await s.exec(select(Alert))).all()) or None

            alerts = await changes.until(stored)
            await gateway.services.ingest.wait_idle()
            async with gateway.services.sessions() as s:
                rejected = (await s.exec(select(RejectedMessage))).all()
            assert [(a.source_message_id, a.type) for a in alerts] == [("a1", "sos")]
            assert rejected == []
    finally:
        await admin.dispose()
