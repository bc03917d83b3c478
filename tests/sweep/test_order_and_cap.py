"""Who is called first, how many at once, and the at-risk flags from the import; no gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest_asyncio
from sqlmodel import select

from alert_gateway.db.engine import SessionFactory, make_engine, make_sessions
from alert_gateway.db.models import Alert, NotificationAttempt, Resident, Sweep, SweepEntry
from alert_gateway.metrics import Metrics
from alert_gateway.residents.importer import import_file
from alert_gateway.settings import Settings
from alert_gateway.sweep import calls, starting
from alert_gateway.wellbeing.check_call import CHECK_PRIORITY
from tests.conftest import create_schema

NOW = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
CSV = """\
record,resident_id,id,name,phone,address,oxygen_in_home,bed_bound,no_nearby_contact
resident,,r-1,一 花子,+81762000001,金沢市広坂1,,,
resident,,r-2,二 次郎,+81762000002,金沢市広坂2,,,yes
resident,,r-3,三 三郎,+81762000003,金沢市広坂3,,1,
resident,,r-4,四 四郎,+81762000004,金沢市広坂4,true,,
resident,,r-5,五 五郎,+81762000005,金沢市広坂5,,,
resident,,r-6,六 六子,,能登町6,,,
"""


@pytest_asyncio.fixture
async def lite(sqlite_url: str, tmp_path: Path) -> AsyncIterator[SessionFactory]:
    """Residents r-1..r-6 imported from CSV on a fresh SQLite schema."""
    await create_schema(sqlite_url)
    engine = make_engine(sqlite_url)
    sessions = make_sessions(engine)
    (tmp_path / "r.csv").write_text(CSV, encoding="utf-8")
    async with sessions() as s:
        report = await import_file(s, tmp_path / "r.csv", now=NOW)
        assert report.errors == [], report.errors
    yield sessions
    await engine.dispose()


async def _start(lite: SessionFactory, area: str | None) -> int:
    async with lite() as s:
        sweep = await starting.start(s, area_prefix=area, message_ja="地震", message_en="quake",
                                     actor="test", now=NOW)
        await s.commit()
        assert sweep.id is not None
        return sweep.id


async def test_the_import_sets_the_flags_and_those_at_risk_are_called_first(
        lite: SessionFactory) -> None:
    """Bed-bound, no contact nearby and oxygen at home go first (by id), then the rest."""
    async with lite() as s:
        flags = {r.id: (r.oxygen_in_home, r.bed_bound, r.no_nearby_contact)
                 for r in await s.exec(select(Resident))}
    assert flags["r-2"] == (False, False, True) and flags["r-3"] == (False, True, False)
    assert flags["r-4"] == (True, False, False) and flags["r-1"] == (False, False, False)
    sweep_id = await _start(lite, "金沢市")
    async with lite() as s:
        entries = (await s.exec(select(SweepEntry).where(SweepEntry.sweep_id == sweep_id)
                                .order_by(SweepEntry.rank))).all()
    assert [(e.resident_id, e.at_risk) for e in entries] == [
        ("r-2", True), ("r-3", True), ("r-4", True), ("r-1", False), ("r-5", False)]


async def test_at_most_n_calls_at_once_below_every_alarm(lite: SessionFactory,
                                                         sqlite_url: str) -> None:
    """Three places: three calls queued at the check priority, none more until one ends; a
    paused sweep queues nothing; a resident without a phone is settled for a visit."""
    settings = Settings(database_url=sqlite_url, sweep_concurrent_calls=3)
    metrics = Metrics()
    await _start(lite, None)
    place = {"now": NOW, "settings": settings, "metrics": metrics, "lock_rows": False}
    async with lite() as s:
        assert await calls.place_next(s, **place) == calls.Placed(3, full=True)
        await s.commit()
    async with lite() as s:
        assert await calls.place_next(s, **place) == calls.Placed(0, full=True)
        queued = (await s.exec(select(NotificationAttempt))).all()
        assert [(a.to_number, a.priority, a.purpose) for a in queued] == [
            (f"+8176200000{i}", CHECK_PRIORITY, "sweep") for i in (2, 3, 4)]
        assert "地震" in (queued[0].body or "")
        first = (await s.exec(select(SweepEntry).where(SweepEntry.resident_id == "r-2"))).one()
        first.state = "fine"  # r-2 pressed 1: a place is free
        sweep = (await s.exec(select(Sweep))).one()
        sweep.state = "paused"
        await s.commit()
    async with lite() as s:
        assert (await calls.place_next(s, **place)).count == 0
        (await s.exec(select(Sweep))).one().state = "running"
        await s.commit()
    async with lite() as s:
        assert await calls.place_next(s, **place) == calls.Placed(1, full=True)  # r-1
        await s.commit()
    async with lite() as s:
        states = {e.resident_id: e.state for e in await s.exec(select(SweepEntry))}
    assert states == {"r-1": "calling", "r-2": "fine", "r-3": "calling", "r-4": "calling",
                      "r-5": "waiting", "r-6": "waiting"}
    async with lite() as s:
        for entry in await s.exec(select(SweepEntry).where(SweepEntry.state == "calling")):
            entry.state = "fine"
        await s.commit()
    async with lite() as s:
        # r-5; r-6 has no phone: two places left
        assert await calls.place_next(s, **place) == calls.Placed(1, full=False)
        await s.commit()
    async with lite() as s:
        r6 = (await s.exec(select(SweepEntry).where(SweepEntry.resident_id == "r-6"))).one()
        alert = await s.get(Alert, r6.alert_id)
    assert r6.state == "no_phone" and alert is not None
    assert (alert.type, alert.resident_id) == ("sweep_unreached", "r-6")
