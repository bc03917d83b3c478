"""On PostgreSQL, two replicas placing a sweep's calls at the same moment keep to the cap and
call each resident once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest_asyncio
from sqlmodel import func, select

from alert_gateway.db.engine import SessionFactory, make_engine, make_sessions
from alert_gateway.db.models import NotificationAttempt, Resident, SweepEntry
from alert_gateway.metrics import Metrics
from alert_gateway.settings import Settings
from alert_gateway.sweep import calls, starting
from tests.conftest import create_schema

NOW = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)


@pytest_asyncio.fixture
async def pg(pg_url: str) -> AsyncIterator[SessionFactory]:
    """A session factory on a fresh PostgreSQL schema with a running sweep of five residents."""
    await create_schema(pg_url)
    engine = make_engine(pg_url)
    sessions = make_sessions(engine)
    async with sessions() as s:
        for i in range(1, 6):
            s.add(Resident(id=f"r-{i}", name=f"住民 {i}", phone=f"+8176200000{i}",
                           address="金沢市広坂"))
        await s.flush()
        await starting.start(s, area_prefix=None, message_ja="地震", message_en="quake",
                             actor="test", now=NOW)
        await s.commit()
    yield sessions
    await engine.dispose()


async def test_two_replicas_keep_to_the_cap_and_call_each_resident_once(
        pg: SessionFactory, pg_url: str) -> None:
    """Three places: two replicas together queue three calls to three residents."""
    settings, metrics = Settings(database_url=pg_url, sweep_concurrent_calls=3), Metrics()

    async def place() -> int:
        async with pg() as s:
            placed = (await calls.place_next(s, now=NOW, settings=settings, metrics=metrics,
                                             lock_rows=True)).count
            await s.commit()
        return placed

    assert sum(await asyncio.gather(place(), place())) == 3
    async with pg() as s:
        numbers = (await s.exec(select(NotificationAttempt.to_number)  # each one's SMS aside
                                .where(NotificationAttempt.channel == "voice"))).all()
        calling = (await s.exec(select(func.count()).select_from(SweepEntry)
                                .where(SweepEntry.state == "calling"))).one()
    assert len(numbers) == len(set(numbers)) == 3 and calling == 3
