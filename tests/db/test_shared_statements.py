"""Shared statements: callbacks of one group-commit batch that move attempts on are one UPDATE,
whatever their statuses, and each caller still gets its own row's answer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from alert_gateway.db.engine import SessionFactory
from alert_gateway.db.groupcommit import GroupCommit
from alert_gateway.db.models import AttemptStatus, NotificationAttempt
from alert_gateway.metrics import Metrics
from alert_gateway.outbox import forward
from alert_gateway.responses import callbacks
from tests.statements import statements_sent

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


async def _attempts(sessions: SessionFactory, n: int) -> list[int]:
    async with sessions() as session:
        rows = [NotificationAttempt(target="contact", to_number=f"+8190{i:08d}", channel="sms",
                                    status="queued", provider_sid=f"SM{i:032d}", created_at=NOW,
                                    not_before=NOW) for i in range(n)]
        session.add_all(rows)
        await session.commit()
        return [r.id for r in rows if r.id is not None]


def _move(attempt_id: int, new: AttemptStatus, sid: str, metrics: Metrics) -> Any:
    async def work(session: AsyncSession) -> forward.Moved | None:
        return await forward.advance(session, attempt_id, new, sid=sid, now=NOW, metrics=metrics)
    return work


@pytest.mark.asyncio
async def test_a_batch_moving_attempts_to_two_statuses_is_one_update(sessions: SessionFactory) -> None:
    """Twenty callbacks in one batch, ten "sent" and ten "delivered", are one UPDATE; each
    caller learns that its attempt moved, and every attempt holds its own new status."""
    ids = await _attempts(sessions, 20)
    writes, metrics = GroupCommit(sessions), Metrics()
    with statements_sent(sessions.kw["bind"]) as sent:
        moved = await asyncio.gather(*(
            writes.run(_move(a, AttemptStatus.SENT if i < 10 else AttemptStatus.DELIVERED,
                             f"SM{i:032d}", metrics)) for i, a in enumerate(ids)))
    assert writes.transactions == 1
    updates = [s for s in sent if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1, updates
    assert all(m is not None and m.channel == "sms" for m in moved)
    async with sessions() as session:
        statuses = (await session.exec(select(NotificationAttempt.status)
                                       .order_by(col(NotificationAttempt.id)))).all()
    assert statuses == ["sent"] * 10 + ["delivered"] * 10


@pytest.mark.asyncio
async def test_a_repeated_callback_or_another_sid_in_the_same_batch_moves_nothing(
    sessions: SessionFactory,
) -> None:
    """The same "delivered" twice, a late "sent" and one with another sid in one batch: the
    first move runs in the shared statement; the repeat, the second move of the same attempt and
    the stranger's match nothing there (the row-by-row path then decides them: no-ops)."""
    [attempt_id] = await _attempts(sessions, 1)
    writes, metrics, sid = GroupCommit(sessions), Metrics(), "SM" + "0" * 32
    moved = await asyncio.gather(
        writes.run(_move(attempt_id, AttemptStatus.DELIVERED, sid, metrics)),
        writes.run(_move(attempt_id, AttemptStatus.DELIVERED, sid, metrics)),
        writes.run(_move(attempt_id, AttemptStatus.SENT, sid, metrics)),
        writes.run(_move(attempt_id, AttemptStatus.UNDELIVERED, "SM" + "9" * 32, metrics)))
    assert [m is not None for m in moved] == [True, False, False, False]
    async with sessions() as session:
        row = await session.get(NotificationAttempt, attempt_id)
    assert row is not None and row.status == "delivered" and row.finished_at is not None


@pytest.mark.asyncio
async def test_an_earlier_and_a_later_status_of_one_attempt_in_one_batch_end_at_the_later(
    sessions: SessionFactory,
) -> None:
    """"sent" then "undelivered" for one SMS in one batch: the first runs in the shared UPDATE,
    the second takes the row-by-row path after it, so the attempt ends undelivered, finished,
    with its error code, as if they had come one after the other."""
    [attempt_id] = await _attempts(sessions, 1)
    writes, metrics, sid = GroupCommit(sessions), Metrics(), "SM" + "0" * 32

    def status(value: str, error_code: str | None = None) -> Any:
        return lambda session: callbacks.message_status(
            session, attempt_id=attempt_id, sid=sid, status=value, error_code=error_code, now=NOW,
            metrics=metrics)

    await asyncio.gather(writes.run(status("sent")), writes.run(status("undelivered", "30003")))
    assert writes.transactions == 1
    async with sessions() as session:
        row = await session.get(NotificationAttempt, attempt_id)
    assert row is not None, "the attempt vanished"
    assert (row.status, row.error_code, row.finished_at is not None) == ("undelivered", "30003", True)
