"""A key on a wellbeing call costs a pinned number of statements on the webhook's path: each row
read once and written once (a 9 used to write its window twice: before and after its alert)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from alert_gateway.db.engine import SessionFactory
from alert_gateway.db.groupcommit import GroupCommit
from alert_gateway.db.models import Alert, AlertEvent, NotificationAttempt, Resident, WellbeingCall
from alert_gateway.i18n import t
from alert_gateway.metrics import Metrics
from alert_gateway.responses import keypress
from alert_gateway.settings import Settings
from alert_gateway.wellbeing import calls
from tests.statements import heads as heads_of
from tests.statements import statements_sent

NOW = datetime(2026, 12, 4, 1, 10, tzinfo=UTC)  # Friday 10:10 in Tokyo
SID = "CA" + "1" * 32
TOKYO = ZoneInfo("Asia/Tokyo")


async def _calling(sessions: SessionFactory, *, status: str = "in_progress") -> tuple[int, int]:
    """An English-speaking resident on a wellbeing call; (window id, attempt id)."""
    async with sessions() as session:
        session.add(Resident(id="r-1", name="住人", phone="+81762000001", language="en"))
        attempt = NotificationAttempt(target="resident", to_number="+81762000001",
                                      channel="voice", status=status, provider_sid=SID,
                                      purpose="wellbeing", created_at=NOW, not_before=NOW)
        session.add(attempt)
        await session.flush()
        call = WellbeingCall(resident_id="r-1", window_start=NOW - timedelta(minutes=10),
                             window_end=NOW + timedelta(minutes=50), state="calling",
                             due_at=NOW, tries=3, attempt_id=attempt.id, created_at=NOW,
                             updated_at=NOW)
        session.add(call)
        await session.commit()
        assert call.id is not None and attempt.id is not None
        return call.id, attempt.id


async def _window(sessions: SessionFactory, call_id: int) -> WellbeingCall:
    async with sessions() as session:
        call = await session.get(WellbeingCall, call_id)
    assert call is not None
    return call


@pytest.mark.asyncio
@pytest.mark.parametrize(("digits", "state", "said", "heads"), [
    ("1", "fine", "wellbeing.fine", [
        "SELECT notificationattempt.id,", "SELECT wellbeing_call.id,",
        "UPDATE notificationattempt", "UPDATE wellbeing_call"]),
    ("9", "help", "wellbeing.help", [
        "SELECT notificationattempt.id,", "SELECT wellbeing_call.id,",
        "UPDATE notificationattempt", "SELECT alert.id,",  # the resident's active alert
        "INSERT INTO", "INSERT INTO", "INSERT INTO",  # the alert, its timeline, its escalation
        "UPDATE wellbeing_call"]),
])
async def test_a_key_reads_and_writes_each_row_once(
    sessions: SessionFactory, digits: str, state: str, said: str, heads: list[str],
) -> None:
    """1: the attempt and its window read, then written, in one transaction; 9 also opens the
    P2 alert, and the window (its state and its alert) is still one UPDATE."""
    call_id, attempt_id = await _calling(sessions)
    writes = GroupCommit(sessions, linger=0)
    with statements_sent(sessions.kw["bind"]) as sent:
        pressed = await writes.run(lambda session: keypress.keypress(
            session, attempt_id=attempt_id, sid=SID, digits=digits, now=NOW, tz=TOKYO,
            metrics=Metrics()))
    assert (pressed.say, pressed.language) == (t("en", said), "en")
    assert heads_of(sent) == heads and writes.transactions == 1
    call = await _window(sessions, call_id)
    assert (call.state, call.answered_at, call.finished_at, call.updated_at) == (
        state, NOW, NOW, NOW)
    async with sessions() as session:
        alerts = (await session.exec(select(Alert))).all()
    assert [(a.id, a.severity) for a in alerts] == (
        [] if digits == "1" else [(call.alert_id, "P2")])


@pytest.mark.asyncio
async def test_a_nine_posted_twice_in_one_transaction_raises_one_alert(
    sessions: SessionFactory,
) -> None:
    """Twilio posts the resident's 9 twice (a retried webhook) and both land in one shared
    transaction: one P2 alert with one timeline entry for the answer, and the answer counted once."""
    call_id, attempt_id = await _calling(sessions)
    writes, metrics = GroupCommit(sessions), Metrics()
    await asyncio.gather(*(writes.run(lambda session: keypress.keypress(
        session, attempt_id=attempt_id, sid=SID, digits="9", now=NOW, tz=TOKYO, metrics=metrics))
        for _ in range(2)))
    assert writes.transactions == 1
    call = await _window(sessions, call_id)
    async with sessions() as session:
        alerts = (await session.exec(select(Alert))).all()
        entries = (await session.exec(select(AlertEvent))).all()
    assert [(a.id, a.severity) for a in alerts] == [(call.alert_id, "P2")]
    assert [e.kind for e in entries].count("opened") == 1, [e.kind for e in entries]
    assert metrics.wellbeing_checks.labels(outcome="help")._value.get() == 1


@pytest.mark.asyncio
async def test_a_window_never_answered_is_written_once_with_its_alert(
    sessions: SessionFactory,
) -> None:
    """The scheduler's look at a third unanswered call opens the P3 alert; the window's state,
    time and alert are one UPDATE."""
    call_id, _ = await _calling(sessions, status="not_reached")
    with statements_sent(sessions.kw["bind"]) as sent:
        async with sessions() as session:
            await calls.look_at_results(session, now=NOW, settings=Settings(wellbeing_call_tries=3),
                                        metrics=Metrics(), lock_rows=False)
            await session.commit()
    assert heads_of(sent).count("UPDATE wellbeing_call") == 1, sent
    call = await _window(sessions, call_id)
    assert (call.state, call.answered_at, call.finished_at) == ("not_reached", None, NOW)
    async with sessions() as session:
        alert = await session.get(Alert, call.alert_id)
    assert alert is not None and alert.severity == "P3"
