"""The wellbeing schedule comes in through the YAML and CSV imports, checked like any field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import SessionFactory, make_engine, make_sessions
from alert_gateway.db.residents import Resident
from alert_gateway.residents.importer import import_file
from tests.conftest import create_schema

YAML = """\
residents:
  - id: r-0001
    name: 山田 花子
    phone: "+81762201111"
    language: en
    wellbeing_schedule: 毎週月曜 10:00-11:00
  - id: r-0002
    name: 川上 一郎
    phone: "+81762201112"
"""
CSV = """\
record,resident_id,id,name,phone,wellbeing_schedule,wellbeing_timezone
resident,,r-0003,野町 ウメ,076-220-1234,monthly 1 14:00-16:00,Asia/Tokyo
"""


@pytest_asyncio.fixture
async def lite(sqlite_url: str) -> AsyncIterator[SessionFactory]:
    """A session factory on a fresh SQLite schema."""
    await create_schema(sqlite_url)
    engine = make_engine(sqlite_url)
    yield make_sessions(engine)
    await engine.dispose()


async def _imported(lite: SessionFactory, path: Path, clock: FakeClock) -> list[str]:
    async with lite() as s:
        report = await import_file(s, path, now=clock.now())
    return [f"{e.line}:{e.field}:{e.message}" for e in report.errors]


async def test_yaml_and_csv_set_the_schedule(lite: SessionFactory, tmp_path: Path,
                                             clock: FakeClock) -> None:
    """Japanese or English spellings are stored in one form; no schedule means no calls."""
    (tmp_path / "r.yaml").write_text(YAML, encoding="utf-8")
    (tmp_path / "r.csv").write_text(CSV, encoding="utf-8")
    assert await _imported(lite, tmp_path / "r.yaml", clock) == []
    assert await _imported(lite, tmp_path / "r.csv", clock) == []
    async with lite() as s:
        rows = {r.id: r for r in await s.exec(select(Resident))}
    assert rows["r-0001"].wellbeing_schedule == "weekly mon 10:00-11:00"
    assert rows["r-0002"].wellbeing_schedule is None
    assert (rows["r-0003"].wellbeing_schedule, rows["r-0003"].wellbeing_channel) == (
        "monthly 1 14:00-16:00", "voice")


async def test_a_bad_schedule_names_its_line_and_imports_nothing(
        lite: SessionFactory, tmp_path: Path, clock: FakeClock) -> None:
    """The 31st and an unknown time zone are reported with their CSV line."""
    bad = CSV + "resident,,r-0004,川 次郎,076-220-1235,monthly 31 14:00-16:00,Asia/Kanazawa\n"
    (tmp_path / "bad.csv").write_text(bad, encoding="utf-8")
    errors = await _imported(lite, tmp_path / "bad.csv", clock)
    assert [e.split(":")[:2] for e in errors] == [["3", "wellbeing_schedule"],
                                                  ["3", "wellbeing_timezone"]], errors
    async with lite() as s:
        assert await s.get(Resident, "r-0003") is None
