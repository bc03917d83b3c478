"""Closing an alert voids its escalation messages in the same transaction; notices still go out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from alert_gateway.alerts import actions, cancel
from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import (
    AckChannel,
    Alert,
    AlertEvent,
    AlertResponder,
    Escalation,
    NotificationAttempt,
    Outcome,
    Purpose,
)
from alert_gateway.metrics import Metrics
from alert_gateway.responses import keypress
from devices.contract import AlarmType

from .env import DAUGHTER, RESIDENT_PHONE, SON, seed

Close = Callable[[AsyncSession, Alert, datetime], Awaitable[object]]


async def _resolve(s: AsyncSession, alert: Alert, now: datetime) -> object:
    assert alert.id is not None
    return await actions.resolve(s, alert_id=alert.id, actor="operator:tanaka",
                                 outcome=Outcome.ACCIDENTAL, now=now)


async def _acknowledge(s: AsyncSession, alert: Alert, now: datetime) -> object:
    assert alert.id is not None
    return await actions.acknowledge(s, alert_id=alert.id, actor="operator:tanaka",
                                     channel=AckChannel.CONSOLE, now=now)


async def _device_cancel(s: AsyncSession, alert: Alert, now: datetime) -> object:
    return await cancel.apply_cancel(s, alert, alarm_received_at=now - timedelta(seconds=6),
                                     alarm_type=AlarmType.SOS, actor="device:pendant-1", now=now,
                                     min_seconds=5, grace_seconds=300)


async def _resident_presses_1(s: AsyncSession, alert: Alert, now: datetime) -> object:
    """The resident's own call (answered) hears her press 1: "I am fine"."""
    assert alert.id is not None
    call = NotificationAttempt(alert_id=alert.id, target="resident", to_number=RESIDENT_PHONE,
                               channel="voice", status="in_progress", provider_sid="CA" + "9" * 32,
                               created_at=now, not_before=now)
    s.add(call)
    await s.flush()
    assert call.id is not None
    return await keypress.keypress(s, attempt_id=call.id, sid=call.provider_sid, digits="1",
                                    now=now, tz=UTC, metrics=Metrics())


CLOSERS: dict[str, tuple[Close, Purpose]] = {
    "resolve": (_resolve, Purpose.SUMMARY),
    "acknowledge": (_acknowledge, Purpose.TAKEN_NOTICE),
    "device cancel": (_device_cancel, Purpose.CANCEL_NOTICE),
    "resident presses 1": (_resident_presses_1, Purpose.CANCEL_NOTICE),
}


def attempt(alert_id: int, now: datetime, *, to: str, channel: str, status: str,
            purpose: Purpose = Purpose.ALERT, sid: str | None = None) -> NotificationAttempt:
    """One outbox row of the alert, as the engine and dispatcher would have left it."""
    return NotificationAttempt(
        alert_id=alert_id, target="contact", contact_id=1 if to == DAUGHTER else 2, to_number=to,
        channel=channel, purpose=purpose.value, status=status, priority=1, provider_sid=sid,
        created_at=now, not_before=now,
        deadline_at=now + timedelta(seconds=15) if status != "pending" else None)


async def open_alert(url: str, now: datetime) -> int:
    """An open SOS for r-1 whose first step reached the daughter (her responder row)."""
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        alert = Alert(resident_id="r-1", device_id="pendant-1", type="sos", severity="P1",
                      opened_at=now, updated_at=now)
        s.add(alert)
        await s.flush()
        assert alert.id is not None
        s.add(Escalation(alert_id=alert.id, policy="default", severity_rank=1, step_index=1,
                         step_due_at=now, started_at=now, updated_at=now))
        s.add(AlertResponder(alert_id=alert.id, contact_id=1, updated_at=now))
        await s.commit()
        alert_id = alert.id
    await engine.dispose()
    return alert_id


@pytest.mark.parametrize("closer", list(CLOSERS))
async def test_closing_voids_pending_and_leased_alert_attempts_but_not_notices(
    database_url: str, clock: FakeClock, closer: str
) -> None:
    """Pending and leased escalation sends are voided, a ringing call is marked to be hung up,
    a delivered SMS and the notices (old and new) are left to go out."""
    await seed(database_url)
    now = clock.now()
    alert_id = await open_alert(database_url, now)
    rows = {
        "pending call": attempt(alert_id, now, to=SON, channel="voice", status="pending"),
        "leased sms": attempt(alert_id, now, to=SON, channel="sms", status="sending"),
        "ringing call": attempt(alert_id, now, to=DAUGHTER, channel="voice", status="ringing",
                                sid="CA" + "1" * 32),
        "queued sms": attempt(alert_id, now, to=DAUGHTER, channel="sms", status="queued",
                              sid="SM" + "1" * 32),
        "old notice": attempt(alert_id, now, to=DAUGHTER, channel="sms", status="pending",
                              purpose=Purpose.TAKEN_NOTICE),
    }
    engine = make_engine(database_url)
    close, notice = CLOSERS[closer]
    try:
        async with make_sessions(engine)() as s:
            s.add_all(rows.values())
            await s.commit()
            ids = {name: row.id for name, row in rows.items()}
        async with make_sessions(engine)() as s:
            alert = await s.get(Alert, alert_id)
            assert alert is not None
            await close(s, alert, now + timedelta(seconds=6))
            await s.commit()
        async with make_sessions(engine)() as s:
            status = {name: (await s.get(NotificationAttempt, ids[name])).status  # type: ignore[union-attr]
                      for name in rows}
            new = (await s.exec(select(NotificationAttempt).where(
                col(NotificationAttempt.id).not_in(ids.values()),
                NotificationAttempt.target != "resident"))).all()
            resident_calls = [a.status for a in (await s.exec(select(NotificationAttempt).where(
                NotificationAttempt.target == "resident"))).all()]
            events = [e.message for e in (await s.exec(
                select(AlertEvent).where(AlertEvent.alert_id == alert_id))).all()]
    finally:
        await engine.dispose()
    assert status == {"pending call": "canceled", "leased sms": "canceled",
                      "ringing call": "hanging_up", "queued sms": "queued",
                      "old notice": "pending"}, status
    assert resident_calls in ([], ["accepted"]), resident_calls  # she is on it: never hung up
    assert [(a.purpose, a.status, a.to_number) for a in new] == [
        (notice.value, "pending", DAUGHTER)], new
    assert ("alert closed: 2 escalation message(s) not sent, 1 call(s) in progress to be hung up"
            in events), events
