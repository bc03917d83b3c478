"""Group commit: writes queued together share one transaction, and one bad write spoils nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from alert_gateway.db.engine import SessionFactory, is_sqlite
from alert_gateway.db.groupcommit import GroupCommit
from alert_gateway.db.models import Resident

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def _writes(sessions: SessionFactory, url: str) -> GroupCommit:
    return GroupCommit(sessions, lock_rows=not is_sqlite(url))


def _add(resident_id: str) -> Any:
    async def work(session: AsyncSession) -> str:
        session.add(Resident(id=resident_id, name=f"住人 {resident_id}", created_at=NOW, updated_at=NOW))
        return resident_id
    return work


async def _names(sessions: SessionFactory) -> dict[str, str]:
    async with sessions() as session:
        return {r.id: r.name for r in (await session.exec(select(Resident))).all()}


@pytest.mark.asyncio
async def test_writes_queued_together_share_one_commit(sessions: SessionFactory, database_url: str) -> None:
    """Twenty writes queued together are committed by one transaction, each caller getting its own result."""
    writes = _writes(sessions, database_url)
    done = await asyncio.gather(*(writes.run(_add(f"r{i:02d}")) for i in range(20)))
    assert done == [f"r{i:02d}" for i in range(20)]  # each caller gets its own result
    assert writes.transactions == 1
    assert len(await _names(sessions)) == 20  # committed before anyone was answered


@pytest.mark.asyncio
async def test_one_failing_write_spoils_none_of_its_neighbours(sessions: SessionFactory,
                                                               database_url: str) -> None:
    """A write that raises gets its error back while the writes beside it are stored."""
    writes = _writes(sessions, database_url)

    async def broken(session: AsyncSession) -> None:
        session.add(Resident(id="broken", name="x", created_at=NOW, updated_at=NOW))
        raise ValueError("a bug in one handler")

    results = await asyncio.gather(writes.run(_add("a")), writes.run(broken), writes.run(_add("b")),
                                   return_exceptions=True)
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], ValueError)
    assert set(await _names(sessions)) == {"a", "b"}


@pytest.mark.asyncio
async def test_preloaded_rows_cost_one_select_for_the_whole_batch(sessions: SessionFactory,
                                                                  database_url: str) -> None:
    """The rows a batch of writes starts from are loaded with one SELECT."""
    writes = _writes(sessions, database_url)
    await asyncio.gather(*(writes.run(_add(f"r{i}")) for i in range(10)))
    selects: list[str] = []
    engine = sessions.kw["bind"].sync_engine

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    def rename(resident_id: str) -> Any:
        async def work(session: AsyncSession) -> None:
            row = await session.get(Resident, resident_id)
            assert row is not None
            row.name = f"更新 {resident_id}"
        return work

    event.listen(engine, "before_cursor_execute", count)
    try:
        await asyncio.gather(*(writes.run(rename(f"r{i}"), preload=(Resident, f"r{i}")) for i in range(10)))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(selects) == 1
    assert all(name.startswith("更新") for name in (await _names(sessions)).values())


@pytest.mark.asyncio
async def test_writes_arriving_during_a_commit_share_the_next_one(sessions: SessionFactory,
                                                                  database_url: str) -> None:
    """A write starts at once (no batching delay); those queued meanwhile share the next commit."""
    writes = _writes(sessions, database_url)
    first = asyncio.create_task(writes.run(_add("first")))
    await asyncio.sleep(0)  # the first write's transaction is under way
    rest = await asyncio.gather(*(writes.run(_add(f"later-{i}")) for i in range(5)))
    assert await first == "first" and rest == [f"later-{i}" for i in range(5)]
    assert writes.transactions == 2, f"{writes.transactions} commits for a write and the 5 queued behind it"
    assert len(await _names(sessions)) == 6
