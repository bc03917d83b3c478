"""Planning again: a schedule changed or removed before its first call drops the untried window;
changed back, the dropped window is planned again; a city's windows go in few statements."""

from __future__ import annotations

from sqlalchemy import event
from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import Resident, WellbeingCall
from alert_gateway.metrics import Metrics
from alert_gateway.settings import Settings
from alert_gateway.wellbeing import windows
from tests.conftest import create_schema

FRIDAY, MONDAY = "weekly fri 10:00-11:00", "weekly mon 10:00-11:00"


async def test_changed_removed_and_changed_back_schedules(database_url: str,
                                                          clock: FakeClock) -> None:
    """Two residents planned; one moves to Monday, one stops: both untried Friday rows are
    dropped (counted), Monday is planned; back to Friday, the dropped row is planned again."""
    await create_schema(database_url)
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    settings, metrics = Settings(database_url=database_url), Metrics()

    async def plan() -> int:
        return await windows.plan(sessions, now=clock.now(), settings=settings, metrics=metrics)

    async def schedule(resident_id: str, text: str | None) -> None:
        async with sessions() as s:
            resident = await s.get(Resident, resident_id)
            assert resident is not None
            resident.wellbeing_schedule = text
            await s.commit()

    async def rows() -> list[tuple[str, int, str]]:
        async with sessions() as s:
            found = (await s.exec(select(WellbeingCall))).all()
            return sorted((c.resident_id, c.window_start.weekday(), c.state) for c in found)

    def dropped() -> float:
        return metrics.registry.get_sample_value(
            "alert_gateway_wellbeing_checks_total", {"outcome": "dropped"}) or 0.0

    try:
        async with sessions() as s:
            s.add_all([Resident(id=r, name="山田 花子", phone="+81762000001",
                                wellbeing_schedule=FRIDAY) for r in ("r-1", "r-2")])
            await s.commit()
        assert await plan() == 2 and await plan() == 0
        friday = (await rows())[0][1]
        await schedule("r-1", MONDAY)
        await schedule("r-2", None)
        assert await plan() == 1
        assert [(r, state) for r, day, state in await rows() if day == friday] == [
            ("r-1", "dropped"), ("r-2", "dropped")]
        assert ("r-1", (friday + 3) % 7, "scheduled") in await rows()
        assert dropped() == 2
        await schedule("r-2", FRIDAY)
        assert await plan() == 1, "the dropped Friday window is planned again"
        assert ("r-2", friday, "scheduled") in await rows()
    finally:
        await engine.dispose()


async def test_a_citys_windows_go_in_few_statements(database_url: str, clock: FakeClock) -> None:
    """2,500 residents sharing one weekly hour: their windows are inserted in a few statements,
    not one each (10,000 one at a time held SQLite's one connection for over a second)."""
    await create_schema(database_url)
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    inserts: list[str] = []

    def count(conn: object, cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("INSERT INTO wellbeing_call"):
            inserts.append(statement)

    try:
        async with sessions() as s:
            s.add_all([Resident(id=f"r-{i:04d}", name="山田 花子", phone="+81762000001",
                                wellbeing_schedule=FRIDAY) for i in range(2500)])
            await s.commit()
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        added = await windows.plan(sessions, now=clock.now(),
                                   settings=Settings(database_url=database_url), metrics=Metrics())
        assert added == 2500
        assert len(inserts) <= 2500 // windows.INSERT_CHUNK + 5, len(inserts)
    finally:
        await engine.dispose()
