"""Lone writes: a status callback that is one statement runs without a transaction around it on
PostgreSQL, and what it changes beside its attempt (the escalation due, the contact answered) is
in that same statement."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from alert_gateway.db.engine import SessionFactory
from alert_gateway.db.groupcommit import GroupCommit
from alert_gateway.db.held import HeldSessions
from alert_gateway.db.models import (
    Alert,
    AlertResponder,
    AttemptStatus,
    Contact,
    Escalation,
    NotificationAttempt,
    Resident,
)
from alert_gateway.metrics import Metrics
from alert_gateway.outbox import results
from alert_gateway.responses import callbacks
from alert_gateway.twilio.client import ProviderResult

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)
SID = "CA" + "0" * 32


@contextmanager
def begun(sessions: SessionFactory) -> Iterator[list[bool]]:
    """One entry per transaction begun while inside: True when it sent BEGIN (not autocommit)."""
    engine: AsyncEngine = sessions.kw["bind"]
    seen: list[bool] = []

    def began(conn: Any) -> None:
        seen.append(conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT")

    event.listen(engine.sync_engine, "begin", began)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "begin", began)


async def _call(sessions: SessionFactory, *, status: str = "ringing") -> tuple[int, int]:
    """An alert with a running escalation, a notified contact and her call; (alert, attempt)."""
    async with sessions() as session:
        session.add(Resident(id="r-1", name="住人", created_at=NOW, updated_at=NOW))
        await session.flush()
        contact = Contact(resident_id="r-1", name="娘", relation="daughter", phone="+819000000001",
                          created_at=NOW, updated_at=NOW)
        alert = Alert(resident_id="r-1", device_id="d-1", type="sos", severity="P1",
                      opened_at=NOW, updated_at=NOW)
        session.add_all([contact, alert])
        await session.flush()
        assert alert.id is not None and contact.id is not None
        session.add(Escalation(alert_id=alert.id, policy="default", severity_rank=1,
                               state="running", started_at=NOW, updated_at=NOW,
                               next_due_at=NOW + timedelta(minutes=5)))
        session.add(AlertResponder(alert_id=alert.id, contact_id=contact.id, state="notified",
                                   updated_at=NOW))
        attempt_id = await _attempt(session, alert.id, contact.id, "voice", status)
        await session.commit()
        return alert.id, attempt_id


async def _attempt(session: Any, alert_id: int, contact_id: int | None, channel: str,
                   status: str) -> int:
    sid = SID if status != "sending" else None
    attempt_id: int = (await session.exec(insert(NotificationAttempt).returning(
        NotificationAttempt.id), params={
        "alert_id": alert_id, "target": "contact", "contact_id": contact_id,
        "to_number": "+819000000001", "channel": channel, "status": status, "provider_sid": sid,
        "purpose": "alert", "priority": 1, "dial_no": 1, "retries": 0, "created_at": NOW,
        "not_before": NOW})).scalar_one()
    return attempt_id


@pytest.mark.asyncio
@pytest.mark.parametrize("held", [False, True], ids=["pooled", "held"])
async def test_the_lifecycle_of_a_call_as_lone_writes(sessions: SessionFactory, held: bool) -> None:
    """Answered, a person's voice, then the end without a key: each callback one statement,
    none in a transaction of its own on PostgreSQL; the attempt ends not reached, the contact
    has answered and the escalation is due at the end's time. `held`: the group commit on a
    writer's own connection, as serve builds it on PostgreSQL (db/held.py), whose lone writes
    once ran in a transaction that closing the session rolled back; they now share a second
    connection of that writer's, in autocommit, kept between them."""
    alert_id, attempt_id = await _call(sessions)
    postgres = sessions.kw["bind"].dialect.name == "postgresql"
    own = HeldSessions(sessions.kw["bind"]) if held and postgres else None
    writes, metrics = GroupCommit(own or sessions, linger=0), Metrics()
    engine: AsyncEngine = sessions.kw["bind"]
    checkouts: list[object] = []
    event.listen(engine.sync_engine.pool, "checkout", lambda *args: checkouts.append(args))
    with begun(sessions) as seen:
        answered = await callbacks.lone_move(writes, attempt_id, SID, AttemptStatus.IN_PROGRESS,
                                             now=NOW, metrics=metrics)
        person = await callbacks.lone_human(writes, attempt_id, SID, now=NOW)
        ended = await callbacks.lone_move(writes, attempt_id, SID, AttemptStatus.NOT_REACHED,
                                          now=LATER, metrics=metrics)
    if own is not None:
        assert engine.pool.checkedout() == 1  # type: ignore[attr-defined]  # kept between writes
        await own.aclose()
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]  # handed back at close
    assert answered is not None and person is not None and ended is not None
    assert [(c.alert_id, c.kind) for c in ended.changes] == [(alert_id, "notification")]
    assert seen == [not postgres] * 3
    if postgres:  # held: one kept connection in autocommit for all three; pooled: one each
        assert len(checkouts) == (1 if own is not None else 3)
    assert (writes.autocommitted, writes.transactions) == ((3, 0) if postgres else (0, 3))
    async with sessions() as session:
        row = await session.get(NotificationAttempt, attempt_id)
        escalation = await session.get(Escalation, alert_id)
        responder = await session.get(AlertResponder, (alert_id, row.contact_id if row else 0))
    assert row is not None and escalation is not None and responder is not None
    assert (row.status, row.answered_by, row.finished_at) == ("not_reached", "human", LATER)
    assert escalation.next_due_at == LATER and responder.state == "answered"


@pytest.mark.asyncio
async def test_a_stale_or_strange_callback_is_left_to_the_row_by_row_path(
    sessions: SessionFactory,
) -> None:
    """A late "ringing" after the end and a person's voice under another sid match nothing: each
    lone write says so (the webhook then applies it as usual); the end repeated leaves nothing
    for that path to do, and says so. Nothing moves back or is poked again."""
    alert_id, attempt_id = await _call(sessions, status="not_reached")
    writes, metrics = GroupCommit(sessions), Metrics()
    found = await asyncio.gather(
        callbacks.lone_move(writes, attempt_id, SID, AttemptStatus.RINGING, now=LATER,
                            metrics=metrics),
        callbacks.lone_move(writes, attempt_id, SID, AttemptStatus.NOT_REACHED, now=LATER,
                            metrics=metrics),
        callbacks.lone_human(writes, attempt_id, "CA" + "9" * 32, now=LATER))
    assert found == [None, callbacks.HookResult(), None]
    async with sessions() as session:
        row = await session.get(NotificationAttempt, attempt_id)
        escalation = await session.get(Escalation, alert_id)
    assert row is not None and row.status == "not_reached" and row.answered_by is None
    assert escalation is not None and escalation.next_due_at == NOW + timedelta(minutes=5)


@pytest.mark.asyncio
async def test_a_lone_write_beside_another_write_shares_its_transaction(
    sessions: SessionFactory,
) -> None:
    """A lone write queued with a write that is not one statement runs in that write's
    transaction: nothing is written outside it."""
    _, attempt_id = await _call(sessions)
    writes, metrics = GroupCommit(sessions, linger=3600), Metrics()

    async def other(session: Any) -> str:
        session.add(Resident(id="r-2", name="隣人", created_at=NOW, updated_at=NOW))
        return "r-2"

    moved, added = await asyncio.gather(
        callbacks.lone_move(writes, attempt_id, SID, AttemptStatus.IN_PROGRESS, now=NOW,
                            metrics=metrics),
        writes.run(other))
    assert moved is not None and added == "r-2"
    assert (writes.autocommitted, writes.transactions) == (0, 1)


@pytest.mark.asyncio
async def test_an_alerts_two_sends_taken_together_mark_its_first_notification_once(
    sessions: SessionFactory,
) -> None:
    """The call and the SMS of an alert's first step, both taken by Twilio in one round: one
    statement (no transaction on PostgreSQL) queues both, and the alert's first notification is
    marked and measured once."""
    alert_id, call_id = await _call(sessions, status="sending")
    async with sessions() as session:
        sms_id = await _attempt(session, alert_id, None, "sms", "sending")
        await session.commit()
    writes = GroupCommit(sessions)
    recorded = await asyncio.gather(*(
        results.record_alone(writes, attempt_id, ProviderResult(sid, "queued"), channel=channel,
                             now=LATER, sent_body=None, can_wait=False)
        for attempt_id, sid, channel in ((call_id, SID, "voice"), (sms_id, "SM" + "1" * 32, "sms"))))
    assert all(r is not None and r.look_at is not None for r in recorded)
    assert [r.first_latency for r in recorded if r is not None and r.first_latency] == [("P1", 30.0)]
    postgres = sessions.kw["bind"].dialect.name == "postgresql"
    assert (writes.autocommitted, writes.transactions) == ((1, 0) if postgres else (0, 1))
    async with sessions() as session:
        alert = await session.get(Alert, alert_id)
        rows = [await session.get(NotificationAttempt, i) for i in (call_id, sms_id)]
    assert alert is not None and alert.first_notified_at == LATER
    assert [(r.status, r.provider_sid is not None) for r in rows if r] == [("queued", True)] * 2
