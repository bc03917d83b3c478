"""On PostgreSQL, two replicas planning and placing at the same moment make one row and one call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest_asyncio
from sqlmodel import func, select

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import SessionFactory, make_engine, make_sessions
from alert_gateway.db.models import NotificationAttempt, Resident, WellbeingCall
from alert_gateway.metrics import Metrics
from alert_gateway.settings import Settings
from alert_gateway.wellbeing import calls, windows
from tests.conftest import create_schema


@pytest_asyncio.fixture
async def pg(pg_url: str) -> AsyncIterator[SessionFactory]:
    """A session factory on a fresh PostgreSQL schema with one scheduled resident."""
    await create_schema(pg_url)
    engine = make_engine(pg_url)
    sessions = make_sessions(engine)
    async with sessions() as s:
        s.add(Resident(id="r-1", name="山田 花子", phone="+81762000001",
                       wellbeing_schedule="weekly fri 10:00-11:00"))
        await s.commit()
    yield sessions
    await engine.dispose()


async def _count(sessions: SessionFactory, model: type) -> int:
    async with sessions() as s:
        return (await s.exec(select(func.count()).select_from(model))).one()


async def test_two_replicas_plan_one_window_and_place_one_call(pg: SessionFactory, pg_url: str,
                                                                clock: FakeClock) -> None:
    """Concurrent plans insert the window once; concurrent claims queue its call once."""
    settings, metrics = Settings(database_url=pg_url), Metrics()

    async def plan() -> int:
        return await windows.plan(pg, now=clock.now(), settings=settings, metrics=metrics)

    assert sorted(await asyncio.gather(plan(), plan())) == [0, 1]
    in_window = clock.now() + timedelta(hours=7, minutes=30)

    async def place(lock_rows: bool) -> int:
        async with pg() as s:
            placed = await calls.place_due(s, now=in_window, settings=settings, metrics=metrics,
                                           lock_rows=lock_rows)
            await s.commit()
        return placed

    # with row locks (as replicas run) and without (the conditional UPDATE alone holds)
    assert sorted(await asyncio.gather(place(True), place(False))) == [0, 1]
    assert await _count(pg, WellbeingCall) == 1 and await _count(pg, NotificationAttempt) == 1
