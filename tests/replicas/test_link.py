"""The replica link: changes cross between replicas once, and a lost listen connection comes back."""

from __future__ import annotations

import logging
import uuid

import pytest

from alert_gateway.bus import AlertChange, ChangeKind
from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine
from alert_gateway.db.notify import connect_kwargs
from alert_gateway.services import build_services
from alert_gateway.settings import Settings
from tests.conftest import create_schema

from .env import Heard, replica, terminate_listen_backend


def _root() -> str:
    return f"agtest-{uuid.uuid4().hex[:10]}/eldercare/v1/devices"


async def test_a_change_reaches_the_other_replica_once_and_never_echoes(
    pg_url: str, clock: FakeClock
) -> None:
    """A's change reaches B's listeners; B's own change is not delivered to B a second time."""
    await create_schema(pg_url)
    async with replica(pg_url, _root(), clock) as (a, _), replica(pg_url, _root(), clock) as (b, _):
        heard_on_b = Heard(b)
        await b.services.bus.publish(AlertChange(1, ChangeKind.NOTE))
        await heard_on_b.until(lambda seen: AlertChange(1, ChangeKind.NOTE) in seen)
        # B's notice is out once A has it; anything B sent reaches B's listen session before
        # A's later notice does (PostgreSQL delivers in commit order).
        await Heard(a).until(lambda seen: AlertChange(1, ChangeKind.NOTE, remote=True) in seen)
        await a.services.bus.publish(AlertChange(2, ChangeKind.ACKNOWLEDGED))
        await heard_on_b.until(
            lambda seen: AlertChange(2, ChangeKind.ACKNOWLEDGED, remote=True) in seen)
        assert heard_on_b.changes.count(AlertChange(1, ChangeKind.NOTE)) == 1, heard_on_b.changes
        sample = b.services.metrics.registry.get_sample_value
        assert sample("alert_gateway_replica_notices_total", {"direction": "received"}) == 1.0
        assert (sample("alert_gateway_replica_notices_total", {"direction": "sent"}) or 0) >= 1.0


async def test_a_lost_listen_connection_reconnects_and_everything_is_looked_at_once(
    pg_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The listen session is killed: B reconnects, its listeners look at everything, notices flow again."""
    await create_schema(pg_url)
    async with replica(pg_url, _root(), clock) as (a, _), replica(pg_url, _root(), clock) as (b, _):
        link = b.services.replicas
        assert link is not None
        heard_on_b = Heard(b)
        caplog.set_level(logging.INFO, logger="alert_gateway.db.notify")
        assert await terminate_listen_backend(link.application_name) == 1
        await heard_on_b.until(lambda seen: AlertChange(0, ChangeKind.RESYNC, remote=True) in seen)
        sample = b.services.metrics.registry.get_sample_value
        assert (sample("alert_gateway_replica_listener_reconnects_total") or 0) >= 1.0
        assert sample("alert_gateway_replica_listener_connected") == 1.0
        said = [r.getMessage() for r in caplog.records if r.name == "alert_gateway.db.notify"]
        assert "replica listener reconnected" in said, said
        await a.services.bus.publish(AlertChange(3, ChangeKind.RESOLVED))
        await heard_on_b.until(lambda seen: AlertChange(3, ChangeKind.RESOLVED, remote=True) in seen)


async def test_sqlite_keeps_the_in_process_path_only(sqlite_url: str, clock: FakeClock) -> None:
    """One SQLite instance has no replica link: nothing listens or notifies."""
    services = build_services(Settings(database_url=sqlite_url), clock=clock)
    try:
        assert services.replicas is None
    finally:
        await services.close()


async def test_the_listen_connection_reads_the_database_url_as_sqlalchemy_does() -> None:
    """Host, credentials and ssl come from the URL; SQLAlchemy-only options stay out of asyncpg."""
    engine = make_engine("postgresql+asyncpg://gw:p%40ss@db.example:6543/alerts"
                         "?ssl=require&prepared_statement_cache_size=0")
    try:
        assert connect_kwargs(engine) == {"host": "db.example", "port": 6543, "user": "gw",
                                          "password": "p@ss", "database": "alerts",
                                          "ssl": "require"}
    finally:
        await engine.dispose()
