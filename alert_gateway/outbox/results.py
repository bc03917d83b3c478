"""Recording a send's outcome: a pure decision on what the API answer means, then writing it.

Runs in a transaction shared with other results and callbacks (the group commit), so it returns
what changed for its caller to publish after that commit. Twilio taking the request, the common
case, is one forward-only UPDATE (outbox/forward.py) plus the alert's first-notified mark.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import Select, case, func, select, update
from sqlalchemy.sql.dml import ReturningUpdate
from sqlmodel.ext.asyncio.session import AsyncSession

from ..bus import AlertChange, ChangeKind
from ..db import shared
from ..db.groupcommit import GroupCommit
from ..db.models import AttemptStatus, NotificationAttempt, NotifyChannel, Purpose
from ..db.rowset import RowSet
from ..escalation import hooks
from ..metrics import Metrics
from ..responses import links
from ..twilio.client import ProviderResult, TransientSendError
from . import forward
from .attempts import advance, map_status, tells_nothing_new
from .forward import ALERT, ATTEMPT
from .hangup import voided_result

MAX_RETRIES = 5  # transient API errors per attempt, with backoff 2, 4, 8, 16, 32 s
STUCK_AFTER = {NotifyChannel.SMS.value: timedelta(minutes=5),
               NotifyChannel.VOICE.value: timedelta(minutes=3),
               NotifyChannel.LINE.value: timedelta(minutes=5)}


class Verdict(StrEnum):
    """What an API answer means for its attempt."""

    VOIDED = "voided"  # its alert closed while we were sending
    ACCEPTED = "accepted"  # Twilio took it: callbacks follow
    RETRY = "retry"  # a transient error with retries left: back to the outbox after a backoff
    FAILED = "failed"  # refused, or transient too often


def decide(status: str, retries: int, result: ProviderResult | Exception) -> Verdict:
    """The verdict for an answer to an attempt now in `status` after `retries` retries."""
    if status == AttemptStatus.CANCELED.value:
        return Verdict.VOIDED
    if isinstance(result, ProviderResult):
        return Verdict.ACCEPTED
    if isinstance(result, TransientSendError) and retries < MAX_RETRIES:
        return Verdict.RETRY
    return Verdict.FAILED


@dataclass
class Recorded:
    """What recording one result changed, for after the commit."""

    first_latency: tuple[str, float] | None = None  # (severity, seconds): the alert's first send
    changes: list[AlertChange] = field(default_factory=list)
    look_at: datetime | None = None  # the row's new retry time or deadline
    sweep_call_ended: bool = False  # a sweep's call refused: no callback will free its place


async def record(session: AsyncSession, attempt_id: int, result: ProviderResult | Exception, *,
                 now: datetime, metrics: Metrics, sent_body: str | None = None) -> Recorded:
    """Write one send's outcome on its attempt: one forward-only UPDATE when Twilio took it,
    else decided from the row (read in this transaction: locked on PostgreSQL). `sent_body` is
    the text that went out: once Twilio has it, only its answer link's hash stays stored."""
    if isinstance(result, ProviderResult):
        kept = links.redact(sent_body) if sent_body else None
        taken = await forward.accepted(
            session, attempt_id, result.sid, now=now,
            sms_deadline=now + STUCK_AFTER[NotifyChannel.SMS.value],
            voice_deadline=now + STUCK_AFTER[NotifyChannel.VOICE.value],
            kept_body=kept if kept != sent_body else None)
        if taken is not None:
            return await _accepted(session, attempt_id, result, taken, now=now, metrics=metrics)
    return await _from_row(session, attempt_id, result, now=now, metrics=metrics)


async def _accepted(session: AsyncSession, attempt_id: int, result: ProviderResult,
                    taken: forward.Accepted, *, now: datetime, metrics: Metrics) -> Recorded:
    """The row is QUEUED: the answer may already say more (a final status), and it may be the
    alert's first notification."""
    moved = taken.moved
    out = Recorded(look_at=taken.deadline)
    new = map_status(moved.channel, result.status)
    if new is not None and new.rank > AttemptStatus.QUEUED.rank and await forward.advance(
            session, attempt_id, new, sid=None, now=now, metrics=metrics) and new.is_final:
        out.look_at = None
    if moved.alert_id is not None and moved.purpose == Purpose.ALERT.value \
            and not taken.notified_before:
        out.first_latency = await first_sent(session, moved.alert_id, now)
    return out


async def _from_row(session: AsyncSession, attempt_id: int, result: ProviderResult | Exception, *,
                    now: datetime, metrics: Metrics) -> Recorded:
    """The rarer answers, decided from the row: a voided attempt, a retry, a failure, or an
    acceptance after a callback already moved the row on."""
    out = Recorded()
    row = await session.get(NotificationAttempt, attempt_id, with_for_update=True,
                            populate_existing=True)  # a Core UPDATE in this transaction may be newer
    if row is None:
        return out
    verdict = decide(row.status, row.retries, result)
    if verdict is Verdict.VOIDED:
        out.look_at = voided_result(row, result, now=now)
        return out
    if verdict is Verdict.ACCEPTED:
        assert isinstance(result, ProviderResult)
        row.provider_sid = row.provider_sid or result.sid
        row.sent_at = now
        if row.channel == NotifyChannel.SMS.value and row.body:
            row.body = links.redact(row.body)  # only the hash of an answer link stays stored
        # A callback may have moved the row on (even to a final status) before this answer came.
        if row.status == AttemptStatus.SENDING.value:
            row.status = AttemptStatus.QUEUED.value
            row.deadline_at = now + STUCK_AFTER[row.channel]
        new = map_status(row.channel, result.status)
        if new is not None and new.rank > AttemptStatus.QUEUED.rank:
            advance(row, new, now=now, metrics=metrics)
        out.first_latency = await first_notified(session, row, now)
    elif verdict is Verdict.RETRY:
        row.retries += 1
        row.status = AttemptStatus.PENDING.value
        row.not_before = now + timedelta(seconds=2 ** row.retries)
        row.error = str(result)[:500]
    else:
        row.status = AttemptStatus.SENDING.value  # so advance() accepts the failure
        advance(row, AttemptStatus.FAILED, now=now, metrics=metrics)
        row.error = str(result)[:500]
        row.error_code = getattr(result, "code", None)
        if row.alert_id is not None and row.purpose == Purpose.ALERT.value:
            await hooks.poke(session, row.alert_id, now=now)
            out.changes.append(AlertChange(row.alert_id, ChangeKind.NOTIFICATION))
        out.sweep_call_ended = (row.purpose == Purpose.SWEEP.value
                                and row.channel == NotifyChannel.VOICE.value)
    out.look_at = row.not_before if row.status == AttemptStatus.PENDING.value else row.deadline_at
    return out


_FIRSTS = RowSet("firsts", (("alert_id", ALERT.c.id.type), ("now", ALERT.c.first_notified_at.type)))


@cache
def _first_statement(dialect: str) -> ReturningUpdate[Any]:
    v = _FIRSTS.source(dialect).c
    return (update(ALERT)
            .where(ALERT.c.id == v.alert_id, ALERT.c.first_notified_at.is_(None))
            .values(first_notified_at=v.now)
            .returning(ALERT.c.id, ALERT.c.severity, ALERT.c.opened_at))


async def _run_firsts(session: shared.Statements, rows: list[shared.Row]) -> dict[Hashable, Any]:
    dialect = session.get_bind().dialect
    found = await session.exec(_first_statement(dialect.name),
                               params=_FIRSTS.params(dialect, rows))
    return {alert_id: (severity, opened_at) for alert_id, severity, opened_at in found.all()}


FIRST_SENT = shared.Kind("alert first notified", (shared.ALERTS, 0), _run_firsts)


async def first_notified(session: AsyncSession, row: NotificationAttempt,
                         now: datetime) -> tuple[str, float] | None:
    """`first_sent` for an attempt row: only an alert's escalation notifies about it."""
    if row.alert_id is None or row.purpose != Purpose.ALERT.value:
        return None
    return await first_sent(session, row.alert_id, now)


async def first_sent(session: AsyncSession, alert_id: int,
                     now: datetime) -> tuple[str, float] | None:
    """(severity, seconds since the alarm) when this is the alert's first notification sent.

    The fact is the row's `first_notified_at`, set once by a conditional UPDATE: a second send
    recorded in the same shared transaction (or its statement), a rerun or another replica
    finds it set.
    """
    first = await shared.ask(session, FIRST_SENT, (alert_id, now))
    return None if first is None else _latency(first, now)


def _latency(first: tuple[str, datetime], now: datetime) -> tuple[str, float]:
    severity, opened_at = first
    if opened_at.tzinfo is None:
        opened_at = opened_at.replace(tzinfo=now.tzinfo)
    return severity, max(0.0, (now - opened_at).total_seconds())


# --- the common case as one statement ------------------------------------------------------------

async def record_alone(writes: GroupCommit, attempt_id: int, result: ProviderResult | Exception,
                       *, channel: str, now: datetime, sent_body: str | None,
                       can_wait: bool) -> Recorded | None:
    """Twilio took the request and its answer says no more: the attempt QUEUED and, for the
    alert's first send, its first-notified mark, as one statement with no transaction around it
    on PostgreSQL (db/groupcommit.py `one`). None otherwise: `record` decides, row by row."""
    if not isinstance(result, ProviderResult) or not tells_nothing_new(channel, result.status):
        return None
    kept = links.redact(sent_body) if sent_body else None
    found: tuple[forward.Accepted, tuple[str, datetime] | None] | None = await writes.one(
        TAKEN, (attempt_id, result.sid, now, kept if kept != sent_body else None,
                now + STUCK_AFTER[NotifyChannel.SMS.value],
                now + STUCK_AFTER[NotifyChannel.VOICE.value]), can_wait=can_wait)
    if found is None:
        return None
    taken, first = found
    return Recorded(look_at=taken.deadline,
                    first_latency=None if first is None else _latency(first, now))


@cache
def _taken_statement(dialect: str) -> Select[Any]:
    """forward.ACCEPTED and FIRST_SENT in one statement (PostgreSQL): the first send of an alert
    in it (the lowest id) carries the alert's severity and opening when this marked it."""
    taken = forward.accepted_statement(dialect).returning(ATTEMPT.c.sent_at).cte("taken")
    firsts = (update(ALERT)
              .where(ALERT.c.id == taken.c.alert_id, taken.c.purpose == Purpose.ALERT.value,
                     ALERT.c.first_notified_at.is_(None))
              .values(first_notified_at=taken.c.sent_at)
              .returning(ALERT.c.id, ALERT.c.severity, ALERT.c.opened_at).cte("firsts"))
    sibling = taken.alias("sibling")
    first_of_alert = taken.c.id == (select(func.min(sibling.c.id))
                                    .where(sibling.c.alert_id == taken.c.alert_id).scalar_subquery())
    return (select(*(taken.c[c.name] for c in forward.RETURNED), taken.c.deadline_at,
                   taken.c.notified_before, case((first_of_alert, firsts.c.severity)),
                   firsts.c.opened_at)
            .select_from(taken.outerjoin(firsts, firsts.c.id == taken.c.alert_id)))


async def _run_taken(session: shared.Statements, rows: list[shared.Row]) -> dict[Hashable, Any]:
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        found = await session.exec(_taken_statement(dialect.name),
                                   params=forward.ACCEPTS.params(dialect, rows))
        return {r[0]: (forward.Accepted(forward.Moved(*r[1:5]), r[5], bool(r[6])),
                       None if r[7] is None else (r[7], r[8])) for r in found.all()}
    taken: dict[Hashable, forward.Accepted] = await forward.ACCEPTED.run(session, rows)
    now = {row[0]: row[2] for row in rows}
    first_of: dict[int, Hashable] = {}  # alert → its first send taken here (the lowest id)
    for key in sorted(taken):  # type: ignore[type-var]
        moved = taken[key].moved
        if moved.alert_id is not None and moved.purpose == Purpose.ALERT.value \
                and not taken[key].notified_before:
            first_of.setdefault(moved.alert_id, key)
    marked = await FIRST_SENT.run(session, [(a, now[k]) for a, k in first_of.items()]) \
        if first_of else {}
    return {key: (a, marked.get(a.moved.alert_id) if first_of.get(a.moved.alert_id or 0) == key
                  else None) for key, a in taken.items()}


TAKEN = shared.Kind("attempt taken, alert notified", forward.ACCEPTED.order, _run_taken,
                    lock=forward.lock_attempts, locks_in_order=True)
