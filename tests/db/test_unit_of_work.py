"""The unit of work: changes are published after the commit, and never for work that rolled back."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from alert_gateway.bus import AlertBus, AlertChange, ChangeKind
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.unit_of_work import unit_of_work


async def test_changes_are_published_once_the_work_has_committed(sqlite_url: str) -> None:
    """A listener that hears of the change finds the row the work wrote."""
    engine = make_engine(sqlite_url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE probe (alert_id INTEGER)"))
    sessions = make_sessions(engine)
    bus = AlertBus()
    found: list[int] = []

    async def listener(change: AlertChange) -> None:
        async with sessions() as session:
            conn = await session.connection()
            found.extend((await conn.execute(text("SELECT alert_id FROM probe"))).scalars())

    bus.subscribe(listener)
    async with unit_of_work(sessions, bus) as uow:
        await (await uow.session.connection()).execute(text("INSERT INTO probe VALUES (1)"))
        uow.changed(1, ChangeKind.NOTE)
        assert await bus.drain(1) and found == []  # nothing told before the commit
    assert await bus.drain(5)
    assert found == [1]
    await engine.dispose()


async def test_work_that_fails_publishes_nothing(sqlite_url: str) -> None:
    """An exception in the block rolls back, and no listener hears of a change that never was."""
    engine = make_engine(sqlite_url)
    sessions = make_sessions(engine)
    bus = AlertBus()
    heard: list[AlertChange] = []

    async def listener(change: AlertChange) -> None:
        heard.append(change)

    bus.subscribe(listener)
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessions, bus) as uow:
            uow.changed(1, ChangeKind.NOTE)
            raise RuntimeError("work failed")
    assert await bus.drain(5)
    assert heard == []
    await engine.dispose()
