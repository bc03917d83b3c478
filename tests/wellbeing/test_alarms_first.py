"""Wellbeing calls never go before an alarm's sends in the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest_asyncio

from alert_gateway.db.engine import SessionFactory, make_engine, make_sessions
from alert_gateway.db.models import NotificationAttempt, Purpose
from alert_gateway.outbox import queue
from alert_gateway.outbox.backlog import Backlog
from alert_gateway.settings import Settings
from alert_gateway.wellbeing.check_call import check_call
from tests.conftest import create_schema

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


@pytest_asyncio.fixture
async def lite(sqlite_url: str) -> AsyncIterator[SessionFactory]:
    """A session factory on a fresh SQLite schema."""
    await create_schema(sqlite_url)
    engine = make_engine(sqlite_url)
    yield make_sessions(engine)
    await engine.dispose()


def _alarm_send(priority: int, at: datetime) -> NotificationAttempt:
    return NotificationAttempt(target="dispatch", to_number="+81762999999", channel="voice",
                               purpose=Purpose.ALERT.value, priority=priority, created_at=at,
                               not_before=at)


async def test_an_older_wellbeing_call_waits_behind_a_newer_alarm(lite: SessionFactory,
                                                                  sqlite_url: str) -> None:
    """Even a P3 alarm queued later is claimed first; while alarms wait to be stored, only the
    P1 is claimed."""
    settings = Settings(database_url=sqlite_url)
    async with lite() as s:
        s.add(check_call(to_number="+81762000001", language="ja", centre="受信センター",
                         now=NOW - timedelta(minutes=5)))
        s.add(_alarm_send(3, NOW))
        s.add(_alarm_send(1, NOW + timedelta(seconds=1)))
        await s.commit()
    claim = {"now": NOW + timedelta(seconds=2), "lock_rows": False, "settings": settings}
    waiting, _, _ = await queue.claim_due(lite, limit=5, backlog=Backlog.ALARMS, **claim)
    assert [a.priority for a in waiting] == [1]
    rest, _, _ = await queue.claim_due(lite, limit=5, backlog=Backlog.NONE, **claim)
    assert [(a.priority, a.purpose) for a in rest] == [(3, "alert"), (5, "wellbeing")]
