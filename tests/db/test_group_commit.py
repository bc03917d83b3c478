"""Group commit: writes queued together share one transaction, and one bad write spoils nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from alert_gateway.db.engine import SessionFactory
from alert_gateway.db.groupcommit import GroupCommit
from alert_gateway.db.models import Resident

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def _add(resident_id: str) -> Any:
    async def work(session: AsyncSession) -> str:
        session.add(Resident(id=resident_id, name=f"住人 {resident_id}", created_at=NOW, updated_at=NOW))
        return resident_id
    return work


async def _names(sessions: SessionFactory) -> dict[str, str]:
    async with sessions() as session:
        return {r.id: r.name for r in (await session.exec(select(Resident))).all()}


@pytest.mark.asyncio
async def test_writes_queued_together_share_one_commit(sessions: SessionFactory) -> None:
    """Twenty writes queued together are committed by one transaction, each caller getting its own result."""
    writes = GroupCommit(sessions)
    done = await asyncio.gather(*(writes.run(_add(f"r{i:02d}")) for i in range(20)))
    assert done == [f"r{i:02d}" for i in range(20)]  # each caller gets its own result
    assert writes.transactions == 1
    assert len(await _names(sessions)) == 20  # committed before anyone was answered


@pytest.mark.asyncio
async def test_one_failing_write_spoils_none_of_its_neighbours(sessions: SessionFactory) -> None:
    """A write that raises gets its error back while the writes beside it are stored."""
    writes = GroupCommit(sessions)

    async def broken(session: AsyncSession) -> None:
        session.add(Resident(id="broken", name="x", created_at=NOW, updated_at=NOW))
        raise ValueError("a bug in one handler")

    results = await asyncio.gather(writes.run(_add("a")), writes.run(broken), writes.run(_add("b")),
                                   return_exceptions=True)
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], ValueError)
    assert set(await _names(sessions)) == {"a", "b"}


@pytest.mark.asyncio
async def test_writes_arriving_during_a_commit_share_the_next_one(sessions: SessionFactory) -> None:
    """A write starts at once (no batching delay); those queued meanwhile share the next commit."""
    writes = GroupCommit(sessions)
    first = asyncio.create_task(writes.run(_add("first")))
    await asyncio.sleep(0)  # the first write's transaction is under way
    rest = await asyncio.gather(*(writes.run(_add(f"later-{i}")) for i in range(5)))
    assert await first == "first" and rest == [f"later-{i}" for i in range(5)]
    assert writes.transactions == 2, f"{writes.transactions} commits for a write and the 5 queued behind it"
    assert len(await _names(sessions)) == 6


@pytest.mark.asyncio
async def test_a_statement_sees_the_objects_a_neighbour_added(sessions: SessionFactory) -> None:
    """A Core UPDATE in one write finds the row an earlier write in the batch added as an object
    (callbacks are Core UPDATEs that share transactions with ORM writes), and the commit keeps it."""
    writes = GroupCommit(sessions)

    async def rename(session: AsyncSession) -> int:
        table = Resident.__table__  # type: ignore[attr-defined]
        result = await session.exec(update(table).where(table.c.id == "a").values(name="改名"))
        return result.rowcount

    added, renamed = await asyncio.gather(writes.run(_add("a")), writes.run(rename))
    assert (added, renamed) == ("a", 1)
    assert writes.transactions == 1
    assert await _names(sessions) == {"a": "改名"}


@pytest.mark.asyncio
async def test_writes_that_can_wait_share_a_transaction_with_the_first_that_cannot(
        sessions: SessionFactory) -> None:
    """Idle, a write that can wait (a status nobody acts on now) waits for company, arriving
    loop turns apart; the first write that cannot wait (a final status) starts them all at once,
    without waiting out the linger (an hour here: the test would time out)."""
    writes = GroupCommit(sessions, linger=3600)
    waiting = []
    for i in range(3):
        waiting.append(asyncio.create_task(writes.run(_add(f"w{i}"), can_wait=True)))
        await asyncio.sleep(0)  # each arrives on its own loop turn
    assert not any(task.done() for task in waiting), "a write that can wait started alone"
    assert await writes.run(_add("final")) == "final"
    assert [await task for task in waiting] == ["w0", "w1", "w2"]
    assert writes.transactions == 1, f"{writes.transactions} commits for 3 lingering writes and 1 final"
    assert len(await _names(sessions)) == 4


@pytest.mark.asyncio
async def test_a_write_that_can_wait_commits_after_the_linger_when_nothing_comes(
        sessions: SessionFactory) -> None:
    """Alone, a write that can wait is committed once the linger ran out, and the next write
    after it lingers again (the hurry of an earlier batch does not carry over)."""
    writes = GroupCommit(sessions, linger=0.01)
    assert await writes.run(_add("alone"), can_wait=True) == "alone"
    await writes.run(_add("final"))
    second = asyncio.create_task(writes.run(_add("later"), can_wait=True))
    await asyncio.sleep(0)
    assert not second.done()
    assert await second == "later"
    assert writes.transactions == 3
    assert set(await _names(sessions)) == {"alone", "final", "later"}


@pytest.mark.asyncio
async def test_a_full_batch_does_not_linger(sessions: SessionFactory) -> None:
    """Writes that can wait start without waiting once a batch is full."""
    writes = GroupCommit(sessions, max_batch=5, linger=3600)
    done = await asyncio.gather(*(writes.run(_add(f"r{i}"), can_wait=True) for i in range(5)))
    assert done == [f"r{i}" for i in range(5)]
    assert writes.transactions == 1
