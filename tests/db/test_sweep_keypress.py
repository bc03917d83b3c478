"""A resident's 1 on a sweep call as one statement (responses/sweep_fine.py), and a call's end
after its key that leaves nothing to do: no transaction around either on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from alert_gateway.db.engine import SessionFactory
from alert_gateway.db.groupcommit import GroupCommit
from alert_gateway.db.models import (
    AttemptStatus,
    NotificationAttempt,
    Resident,
    Sweep,
    SweepEntry,
)
from alert_gateway.i18n import t
from alert_gateway.metrics import Metrics
from alert_gateway.responses import callbacks, sweep_fine

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=8)
SID = "CA" + "1" * 32


async def _calling(sessions: SessionFactory, *, status: str = "in_progress",
                   entry_state: str = "calling") -> tuple[int, int]:
    """An English-speaking resident on a sweep's call; (entry id, attempt id)."""
    async with sessions() as session:
        session.add(Resident(id="r-1", name="住人", language="en", created_at=NOW, updated_at=NOW))
        sweep = Sweep(message_ja="安否確認", message_en="Safety check", started_by="test",
                      created_at=NOW, updated_at=NOW)
        session.add(sweep)
        await session.flush()
        attempt_id: int = (await session.exec(insert(NotificationAttempt).returning(  # type: ignore[call-overload]
            NotificationAttempt.id), params={
            "alert_id": None, "target": "resident", "to_number": "+81762000001",
            "channel": "voice", "status": status, "provider_sid": SID, "purpose": "sweep",
            "priority": 5, "dial_no": 1, "retries": 0, "created_at": NOW, "not_before": NOW,
            "deadline_at": NOW + timedelta(minutes=2)})).scalar_one()
        entry = SweepEntry(sweep_id=sweep.id or 0, resident_id="r-1", rank=0, state=entry_state,
                           tries=1, attempt_id=attempt_id, updated_at=NOW)
        session.add(entry)
        await session.commit()
        assert entry.id is not None
        return entry.id, attempt_id


async def _rows(sessions: SessionFactory, entry_id: int,
                attempt_id: int) -> tuple[SweepEntry, NotificationAttempt]:
    async with sessions() as session:
        entry = await session.get(SweepEntry, entry_id)
        attempt = await session.get(NotificationAttempt, attempt_id)
    assert entry is not None and attempt is not None
    return entry, attempt


@pytest.mark.asyncio
async def test_a_one_settles_the_call_and_the_resident_in_one_statement(
    sessions: SessionFactory,
) -> None:
    """The attempt accepted, the entry fine by the call, the reply in the resident's language,
    counted once; then the call's end finds nothing to do; neither needs a transaction on
    PostgreSQL."""
    entry_id, attempt_id = await _calling(sessions)
    writes, metrics = GroupCommit(sessions, linger=0), Metrics()
    pressed = await sweep_fine.lone_fine(writes, attempt_id, SID, "1", now=NOW, metrics=metrics)
    ended = await callbacks.lone_move(writes, attempt_id, SID, AttemptStatus.NOT_REACHED,
                                      now=LATER, metrics=metrics)
    assert pressed is not None and pressed.sweep_call and pressed.language == "en"
    assert pressed.say == t("en", "wellbeing.fine") and not pressed.changes
    assert ended == callbacks.HookResult(sweep_call=True)
    postgres = sessions.kw["bind"].dialect.name == "postgresql"
    assert (writes.autocommitted, writes.transactions) == ((2, 0) if postgres else (0, 2))
    entry, attempt = await _rows(sessions, entry_id, attempt_id)
    assert (attempt.status, attempt.finished_at, attempt.deadline_at) == ("accepted", NOW, None)
    assert (entry.state, entry.answered_by, entry.answered_at, entry.finished_at,
            entry.updated_at) == ("fine", "call", NOW, NOW, NOW)
    assert metrics.sweep_answers.labels(state="fine")._value.get() == 1
    assert metrics.notifications.labels(channel="voice", status="accepted")._value.get() == 1


@pytest.mark.asyncio
async def test_a_one_after_a_tap_on_the_link_settles_the_call_only(
    sessions: SessionFactory,
) -> None:
    """The resident answered on the SMS's link first: the call is accepted, the entry stays as
    the tap left it, and no second answer is counted."""
    entry_id, attempt_id = await _calling(sessions, entry_state="fine")
    writes, metrics = GroupCommit(sessions, linger=0), Metrics()
    pressed = await sweep_fine.lone_fine(writes, attempt_id, SID, "1", now=NOW, metrics=metrics)
    assert pressed is not None
    entry, attempt = await _rows(sessions, entry_id, attempt_id)
    assert attempt.status == "accepted" and (entry.state, entry.answered_by) == ("fine", None)
    assert metrics.sweep_answers.labels(state="fine")._value.get() == 0


@pytest.mark.asyncio
@pytest.mark.parametrize(("status", "sid", "digits"), [
    ("not_reached", SID, "1"),  # a final attempt: its settling is counted otherwise
    ("in_progress", "CA" + "9" * 32, "1"),  # another call's sid
    ("in_progress", SID, "9"),  # help raises an alert: the row-by-row path
])
async def test_anything_but_the_plain_one_is_left_to_the_row_by_row_path(
    sessions: SessionFactory, status: str, sid: str, digits: str,
) -> None:
    """None, and nothing changed: the webhook then runs the usual keypress."""
    entry_id, attempt_id = await _calling(sessions, status=status)
    writes = GroupCommit(sessions, linger=0)
    assert await sweep_fine.lone_fine(writes, attempt_id, sid, digits, now=NOW,
                                      metrics=Metrics()) is None
    entry, attempt = await _rows(sessions, entry_id, attempt_id)
    assert (attempt.status, entry.state) == (status, "calling")
