"""The reads on every alarm's path look residents up by key on SQLite, never scan them all;
on PostgreSQL a status callback's statements find their attempts by key however much the outbox
grew since the gateway started, and a key pressed on a wellbeing call finds its window by key
however many windows were kept.

A bracketed `resident LEFT JOIN contact` made SQLite materialise the whole join, every resident,
on each intake batch and engine step: during a 10,000-resident sweep that held the one connection
for 9 ms on average per step (bench/README.md, branch sweep10k). On PostgreSQL, prepared
statements kept the generic plan made on the empty outbox of a fresh start (a scan of every
attempt) through a whole sweep (branch sweeppg).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable
from sqlmodel import SQLModel, col, update

import alert_gateway.db.models  # noqa: F401  (the tables)
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.escalation import IN_FLIGHT_SQL
from alert_gateway.db.models import (
    AttemptStatus,
    Device,
    NotificationAttempt,
    Resident,
    WellbeingCall,
)
from alert_gateway.escalation.steploads import _ALERTS_AND_PEOPLE, _PEOPLE
from alert_gateway.ingest.claim_pg import claim_and_read
from alert_gateway.ingest.devicerows import DEVICES_AND_MORE
from alert_gateway.outbox import queue
from alert_gateway.outbox.backlog import Backlog
from alert_gateway.outbox.forward import _LOCK, ADVANCED, advance_row, advance_statement
from alert_gateway.outbox.stuck import WATCHED
from alert_gateway.wellbeing.answers import WINDOW_OF_ATTEMPT


@pytest.mark.parametrize(("statement", "params"), [
    (DEVICES_AND_MORE, {"device_ids": ["pendant-1", "pendant-2"]}),
    (_ALERTS_AND_PEOPLE, {"alert_ids": [1, 2]}),
    (_PEOPLE, {"resident_ids": [1, 2]}),
    (WINDOW_OF_ATTEMPT, {"attempt_id": 1}),
], ids=["intake devices", "engine alerts", "people", "wellbeing keypress"])
def test_hot_path_reads_search_by_key(tmp_path: Path, statement: Executable,
                                        params: dict[str, Any]) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'plans.sqlite'}")
    SQLModel.metadata.create_all(engine)
    plans: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def explain(_conn: Any, cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + sql, parameters).fetchall()
        plans.extend(row[3] for row in rows)

    with engine.connect() as conn:
        conn.execute(statement, params).fetchall()
    engine.dispose()
    scans = [step for step in plans if step.startswith(("SCAN", "MATERIALIZE"))]
    assert not scans, plans


GROWN = 3000  # attempts: a sweep's outbox after a few minutes, from empty at the start


def _lock_statement() -> tuple[Executable, dict[str, Any]]:
    return _LOCK, {"ids": [1, 2]}


def _advance_statement() -> tuple[Executable, dict[str, Any]]:
    row = advance_row(1, AttemptStatus.RINGING, sid=None, now=datetime.now(UTC))
    return advance_statement("postgresql"), ADVANCED.params(postgresql.dialect(), [row])


@pytest.mark.parametrize("build", [_lock_statement, _advance_statement],
                         ids=["callback lock", "callback move"])
async def test_callback_statements_find_attempts_by_key_after_the_outbox_grew(
        pg_url: str, build: Callable[[], tuple[Executable, dict[str, Any]]]) -> None:
    """A status callback's statements, first run on the empty outbox of a fresh start, still
    read their attempts by key once thousands were queued (not a scan of every attempt)."""
    statement, params = build()
    engine = make_engine(pg_url)
    try:
        async with engine.connect() as conn:
            await _planned_on_empty_tables(conn, statement, params)
            now = datetime.now(UTC)
            await conn.execute(insert(NotificationAttempt), [
                {"target": "contact", "to_number": f"+8190{i:08d}", "channel": "voice",
                 "status": "sending", "created_at": now, "not_before": now}
                for i in range(GROWN)])
            await conn.commit()
            before = await _scans(conn)
            await conn.execute(statement, params)
            seq, idx = (a - b for a, b in zip(await _scans(conn), before, strict=True))
            await conn.rollback()
    finally:
        await engine.dispose()
    assert (seq, idx > 0) == (0, True), (seq, idx)


async def _planned_on_empty_tables(conn: AsyncConnection, statement: Executable,
                                   params: dict[str, Any]) -> None:
    """The tables created empty, as at a fresh start, and `statement` run on them past the runs
    after which PostgreSQL may settle on a generic plan and keep it."""
    await conn.run_sync(SQLModel.metadata.create_all)
    await conn.commit()
    for _ in range(8):
        await conn.execute(statement, params)
        await conn.rollback()


async def _scans(conn: AsyncConnection, table: str = "notificationattempt") -> tuple[int, int]:
    """(sequential, index) scans of `table` counted so far in this backend (pending counts
    are flushed every second at most, so only a difference within one transaction is exact)."""
    row = (await conn.execute(text(
        "SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = :table"),
        {"table": table})).one()
    return row.seq_scan, row.idx_scan


async def test_a_wellbeing_key_finds_its_window_by_key_after_windows_were_kept(
        pg_url: str) -> None:
    """A key pressed on a wellbeing call, first looked up on the empty table of a fresh start,
    still finds its window by attempt once thousands of windows are kept (they never go)."""
    engine = make_engine(pg_url)
    params = {"attempt_id": 1}
    try:
        async with engine.connect() as conn:
            await _planned_on_empty_tables(conn, WINDOW_OF_ATTEMPT, params)
            now = datetime.now(UTC)
            await conn.execute(insert(Resident), [{"id": "r-1", "name": "住人"}])
            ids = (await conn.execute(insert(NotificationAttempt).returning(
                col(NotificationAttempt.id)), [
                {"target": "resident", "to_number": "+81762000001", "channel": "voice",
                 "status": "not_reached", "purpose": "wellbeing", "created_at": now,
                 "not_before": now} for _ in range(GROWN)])).scalars().all()
            await conn.execute(insert(WellbeingCall), [
                {"resident_id": "r-1", "window_start": now - timedelta(days=7 * i),
                 "window_end": now - timedelta(days=7 * i), "due_at": now, "attempt_id": id_,
                 "created_at": now, "updated_at": now} for i, id_ in enumerate(ids)])
            await conn.commit()
            before = await _scans(conn, "wellbeing_call")
            await conn.execute(WINDOW_OF_ATTEMPT, {"attempt_id": ids[-1]})
            seq, idx = (a - b for a, b in zip(await _scans(conn, "wellbeing_call"), before,
                                              strict=True))
            await conn.rollback()
    finally:
        await engine.dispose()
    assert (seq, idx > 0) == (0, True), (seq, idx)


async def test_the_intake_claim_reads_its_devices_by_key(pg_url: str) -> None:
    """The claim of alarms' keys, with the read of their devices in the same statement (one
    joined to the other on no column of theirs), finds the devices by key among thousands, and
    sends the claims once, not beside every device (a storm's batch: 500 devices, 1,500 rows)."""
    engine = make_engine(pg_url)
    sessions = make_sessions(engine)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
            await conn.execute(insert(Resident), [{"id": f"r-{i}", "name": "住人"}
                                                  for i in range(GROWN)])
            await conn.execute(insert(Device), [{"id": f"pendant-{i}", "resident_id": f"r-{i}"}
                                                for i in range(GROWN)])
            await conn.execute(text("ANALYZE"))
        async with sessions() as session:
            conn = await session.connection()
            before = await _scans(conn, "device")
            claims = {(f"pendant-{i}", "alarm", "m-1"): ("sos", None) for i in (7, 8)}
            claimed, rows = await claim_and_read(session, claims, ["pendant-7", "pendant-8"],
                                                 now=datetime.now(UTC))
            seq, idx = (a - b for a, b in zip(await _scans(conn, "device"), before, strict=True))
            found = sorted(row._mapping[Device].id for row in rows)
            carried = sum(row.claimed is not None for row in rows)
            await session.rollback()
    finally:
        await engine.dispose()
    assert sorted(claimed) == sorted(claims) and carried == 1
    assert found == ["pendant-7", "pendant-8"]
    assert (seq, idx > 0) == (0, True), (seq, idx)


def test_the_deadline_index_holds_every_status_with_a_deadline() -> None:
    """ix_attempt_deadline's rows are those whose deadline the dispatcher watches."""
    assert set(re.findall(r"'(\w+)'", IN_FLIGHT_SQL)) == {*WATCHED, AttemptStatus.SENDING.value}


async def test_next_wake_reads_attempts_in_flight_by_deadline(pg_url: str) -> None:
    """The dispatcher's next wake, after thousands of calls went through queued, ringing and
    completed without a VACUUM, walks the attempts in flight by deadline (not every index entry
    those calls left under their past statuses)."""
    engine = make_engine(pg_url)
    asked: list[tuple[str, Any]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def keep(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        if "min(notificationattempt.deadline_at)" in sql:
            asked.append((sql, parameters))

    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
        async with engine.begin() as conn:
            await conn.execute(insert(NotificationAttempt), [
                {"target": "contact", "to_number": f"+8190{i:08d}", "channel": "voice",
                 "status": "queued", "created_at": now, "not_before": now,
                 "deadline_at": now + timedelta(minutes=5)} for i in range(GROWN)])
        for status in ("ringing", "in_progress", "completed"):  # a new index entry per status
            async with engine.begin() as conn:
                await conn.execute(update(NotificationAttempt)
                                   .where(col(NotificationAttempt.id) > 3).values(status=status))
        asked.clear()
        sessions = make_sessions(engine)
        await queue.next_wake(sessions, now=now, ours=[1], backlog=Backlog.NONE, housekeeping_at=None)
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            plans = [json.dumps(await raw.driver_connection.fetchval(  # type: ignore[union-attr]
                "EXPLAIN (FORMAT JSON) " + sql, *params)) for sql, params in asked]
    finally:
        await engine.dispose()
    assert len(plans) == 1, asked
    assert "ix_attempt_deadline" in plans[0], plans
    assert "ix_attempt_outbox" not in plans[0] and "Seq Scan" not in plans[0], plans
