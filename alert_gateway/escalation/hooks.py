"""What other parts call, inside their own transaction, when an alert's escalation must change.

The one writer of `Escalation.state`: the engine's steps, operators' actions, callbacks, ingest
and supervision all change it through here, so every transition is in one place.
Rows only: the engine reads them after commit (and after a restart); nothing lives only in memory.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.sql.dml import Update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import ALARM_TYPES, AlarmType, Severity

from ..db import shared
from ..db.models import Alert, Escalation, EscalationState, NotificationAttempt, Purpose
from ..db.rowset import RowSet, unindexed
from ..outbox import closing, notices
from .planner_types import Plan

# The Stepper chooses the policy when it first plans the escalation: for a stored alarm that is
# intake, in the same transaction; for a supervision alert or a restart, the engine.
UNCHOSEN_POLICY = ""
LIVE_STATES = (EscalationState.RUNNING.value, EscalationState.GUARD.value)
OPEN_STATES = (*LIVE_STATES, EscalationState.WATCHING.value, EscalationState.EXHAUSTED.value)


ESCALATION: Table = Escalation.__table__  # type: ignore[attr-defined]
ATTEMPT: Table = NotificationAttempt.__table__  # type: ignore[attr-defined]
_LOCK_ATTEMPTS = (select(ATTEMPT.c.id).where(ATTEMPT.c.alert_id == bindparam("alert_id"))
                  .order_by(ATTEMPT.c.id).with_for_update())
_POKES = RowSet("pokes", (("alert_id", ESCALATION.c.alert_id.type),
                          ("now", ESCALATION.c.next_due_at.type)))


@cache
def _poke_statement(dialect: str) -> Update:
    v = _POKES.source(dialect).c
    return (update(ESCALATION)
            .where(ESCALATION.c.alert_id == v.alert_id,
                   unindexed(ESCALATION.c.state, dialect) == EscalationState.RUNNING.value)
            .values(next_due_at=v.now, updated_at=v.now))


async def _run_pokes(session: shared.Statements, rows: list[shared.Row]) -> dict[Hashable, Any]:
    dialect = session.get_bind().dialect
    await session.exec(_poke_statement(dialect.name),
                       params=_POKES.params(dialect, rows))
    return {}


POKED = shared.Kind("escalation poked", (shared.ESCALATIONS, 0), _run_pokes)
PLANNED_COLUMNS = ("policy", "state", "step_index", "round", "step_due_at", "next_due_at",
                   "reminders", "updated_at")
FOLLOW_PLAN = (
    update(ESCALATION)
    .where(ESCALATION.c.alert_id == bindparam("b_alert_id"))
    .values({c: bindparam(f"b_{c}", type_=ESCALATION.c[c].type) for c in PLANNED_COLUMNS})
)


def new_escalation(alert: Alert, *, now: datetime) -> Escalation:
    """A fresh escalation that runs at once; a fall starts in its guard."""
    assert alert.id is not None
    return Escalation(**escalation_values(alert.id, alert_type=alert.type, severity=alert.severity,
                                          now=now))


def escalation_values(alert_id: int, *, alert_type: str, severity: str, now: datetime) -> dict[str, Any]:
    """The columns of a fresh escalation (a batch inserts many in one statement)."""
    # The guard state is written here, in the alarm's own transaction, so a pendant press that
    # follows (alarm_attached) always finds it, however soon after the fall it arrives.
    guarded = alert_type == AlarmType.FALL.value
    return {
        "alert_id": alert_id,
        "policy": UNCHOSEN_POLICY,
        "severity_rank": Severity(severity).rank,
        "state": (EscalationState.GUARD if guarded else EscalationState.RUNNING).value,
        "step_index": 0,
        "round": 0,
        "reminders": 0,
        "step_due_at": None,
        "next_due_at": now,
        "started_at": now,
        "updated_at": now,
    }


async def restart(session: AsyncSession, alert: Alert, *, now: datetime) -> None:
    """Start over from the first step: the alert became more urgent or was re-opened."""
    escalation = await session.get(Escalation, alert.id)
    if escalation is None:
        session.add(new_escalation(alert, now=now))
        return
    escalation.policy = UNCHOSEN_POLICY
    escalation.severity_rank = Severity(alert.severity).rank
    escalation.step_index = 0
    escalation.round = 0
    escalation.step_due_at = None
    escalation.started_at = now  # the engine reads attempts from here on: earlier ones are history
    escalation.state = EscalationState.RUNNING.value
    escalation.next_due_at = now
    escalation.updated_at = now


async def alarm_attached(
    session: AsyncSession, alert: Alert, alarm_type: AlarmType, *, now: datetime
) -> None:
    """A further alarm on an alert in its fall guard (e.g. a pendant press) sends at once.

    Technical signals (low battery, device offline) say nothing about the resident: the guard holds.
    """
    info = ALARM_TYPES[alarm_type]
    escalation = await session.get(Escalation, alert.id)
    if escalation is not None and escalation.state == EscalationState.GUARD.value:
        if alarm_type is not AlarmType.FALL and info.escalates and not info.technical:
            escalation.state = EscalationState.RUNNING.value
            escalation.next_due_at = now
            escalation.updated_at = now


async def lock_for_close(session: AsyncSession, alert_id: int) -> Escalation | None:
    """Lock the alert's attempts in id order, then its escalation: first, before the alert row.

    The one lock order (PostgreSQL): attempts, escalations, alerts, responders. A group-commit
    batch of callbacks takes its attempts in id order and then the other tables (db/shared.py),
    and the engine takes escalations with SKIP LOCKED and waits for no attempt, so none of them
    can deadlock with a closing. Changes the session holds are not flushed by these statements
    (they would lock the alert row first).
    """
    with session.no_autoflush:
        if session.get_bind().dialect.name == "postgresql":  # SQLite: one writer at a time
            await session.exec(_LOCK_ATTEMPTS,  # type: ignore[call-overload]
                               params={"alert_id": alert_id})
        rows = await session.exec(
            select(Escalation).where(col(Escalation.alert_id) == alert_id).with_for_update())
        return rows.first()


async def stop(session: AsyncSession, alert_id: int, *, now: datetime) -> Escalation | None:
    """Stop sending further steps and reminders (cancelled or resolved); nobody is called now."""
    escalation = await lock_for_close(session, alert_id)
    if escalation is not None and escalation.state in OPEN_STATES:
        escalation.state = EscalationState.STOPPED.value
        escalation.next_due_at = None
        escalation.updated_at = now
    await closing.void_escalation(session, alert_id=alert_id, now=now)
    return escalation


async def watch(session: AsyncSession, escalation: Escalation | None, alert_id: int, *,
                now: datetime) -> None:
    """Acknowledged: no further steps, nobody else is called; the engine reminds the console if
    nobody resolves it in time. `escalation` is the caller's locked row (None: it has none)."""
    if escalation is not None and escalation.state in OPEN_STATES:
        escalation.state = EscalationState.WATCHING.value
        escalation.step_due_at, escalation.next_due_at, escalation.updated_at = None, now, now
    await closing.void_escalation(session, alert_id=alert_id, now=now)


def plan_values(alert_id: int, policy: str, plan: Plan, *, now: datetime) -> dict[str, Any]:
    """The engine's step: the parameters of `FOLLOW_PLAN` that give the escalation the policy,
    state, step and due times the planner chose (a batch's steps are one executemany)."""
    return {"b_alert_id": alert_id, "b_policy": policy, "b_state": plan.state.value,
            "b_step_index": plan.step_index, "b_round": plan.round,
            "b_step_due_at": plan.step_due_at, "b_next_due_at": plan.next_due_at,
            "b_reminders": plan.reminders, "b_updated_at": now}


def step_now(escalation: Escalation, *, now: datetime) -> bool:
    """An operator asked for the next step now: the fall guard ends, or the current step's wait
    is over. True when a step's wait was cut short (its queued re-dials must go too)."""
    cut_short = False
    if escalation.state == EscalationState.GUARD.value:
        escalation.state = EscalationState.RUNNING.value
    elif escalation.step_due_at is not None:
        escalation.step_due_at = now  # the planner sees the step's wait as over
        cut_short = True
    escalation.next_due_at, escalation.updated_at = now, now
    return cut_short


async def poke(session: AsyncSession, alert_id: int, *, now: datetime) -> None:
    """Make a running escalation due now (a delivery failed, a contact declined)."""
    # Always written, never decided from our own read: an engine tick holding the row may be
    # about to commit a later due time planned without this change. On PostgreSQL this UPDATE
    # waits for that tick's lock and then wins, so the engine looks again. A Core statement on
    # the table (no ORM evaluation of the session's objects), shared with the other pokes of a
    # group-commit batch.
    await shared.ask(session, POKED, (alert_id, now))


async def cancelled(session: AsyncSession, alert: Alert, *, now: datetime) -> None:
    """The resident cancelled: no further steps to contacts; those already notified are told."""
    assert alert.id is not None
    await stop(session, alert.id, now=now)
    await notices.tell_notified(session, alert=alert, purpose=Purpose.CANCEL_NOTICE, now=now)
