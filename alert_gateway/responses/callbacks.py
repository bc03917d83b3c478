"""Twilio status callbacks applied to attempts: idempotent, any order, any number."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from ..bus import AlertChange, ChangeKind
from ..db import shared
from ..db.groupcommit import GroupCommit
from ..db.models import AttemptStatus, NotificationAttempt, Purpose
from ..escalation import hooks
from ..metrics import Metrics
from ..outbox import forward
from ..outbox.attempts import advance, map_status
from ..outbox.timeouts import answer_unknown, taken_late
from . import statements


@dataclass
class HookResult:
    """What a webhook changed (published after commit) and what to say back."""

    changes: list[AlertChange] = field(default_factory=list)
    say: str | None = None
    language: str = "ja"
    sweep_call: bool = False  # about a sweep's call: the sweep runner looks at once (a place freed)


async def named_attempt(session: AsyncSession, attempt_id: int, sid: str | None, *, now: datetime,
                   metrics: Metrics) -> NotificationAttempt | None:
    """The attempt named in the URL, if the sid agrees (a late callback may fill in the sid).

    Locked on PostgreSQL (in id order with the rest of a group-commit batch, as closing an alert
    locks them), and read afresh: this is the row-by-row path, which decides from what it read,
    and a Core UPDATE earlier in a shared transaction may have changed the row.
    """
    await forward.lock(session, attempt_id)
    row = await session.get(NotificationAttempt, attempt_id, with_for_update=True,
                            populate_existing=True)
    if row is None or (sid and row.provider_sid and row.provider_sid != sid):
        return None
    if sid and not row.provider_sid:
        row.provider_sid = sid  # the callback beat the API answer
        if answer_unknown(row):  # ... or the answer never came: Twilio had it after all
            await taken_late(session, row, now=now, metrics=metrics)
    return row


async def _after_failure(session: AsyncSession, alert_id: int | None, purpose: str, now: datetime,
                         result: HookResult) -> None:
    """A failed escalation attempt makes its escalation due now (no waiting out the timer)."""
    if alert_id is not None and purpose == Purpose.ALERT.value:
        await hooks.poke(session, alert_id, now=now)
        result.changes.append(AlertChange(alert_id, ChangeKind.NOTIFICATION))


async def _moved_on(session: AsyncSession, attempt_id: int, sid: str | None, new: AttemptStatus, *,
                    now: datetime, metrics: Metrics, result: HookResult,
                    error_code: str | None = None, answered_by: str | None = None) -> bool:
    """The common case in one forward-only UPDATE: the attempt, known by its sid, moves on.

    False when it matched nothing (a stale or repeated status, another sid, a request whose
    answer never came): the caller then takes the row-by-row path, which covers those.
    """
    if not sid:
        return False
    moved = await forward.advance(session, attempt_id, new, sid=sid, now=now, metrics=metrics,
                                  error_code=error_code, answered_by=answered_by)
    if moved is None:
        return False
    result.sweep_call = moved.purpose == Purpose.SWEEP.value
    if new.is_failure:
        await _after_failure(session, moved.alert_id, moved.purpose, now, result)
    return True


async def lone_move(writes: GroupCommit, attempt_id: int, sid: str | None,
                    new: AttemptStatus | None, *, now: datetime, metrics: Metrics,
                    error_code: str | None = None,
                    answered_by: str | None = None) -> HookResult | None:
    """A status callback as one statement with no transaction around it (db/groupcommit.py
    `one`): the attempt, known by its sid, moves on; a failure also makes its escalation due,
    or, when it matched nothing, tells whether the row-by-row path would change anything.
    None when it might: the caller applies it as usual (`message_status`, `call_status`).
    """
    if new is None or not sid:
        return None
    failed = new.is_failure
    moved: forward.Moved | statements.Unchanged | None = await writes.one(
        statements.FAILED_AND_DUE if failed else forward.ADVANCE,
        forward.advance_row(attempt_id, new, sid=sid, now=now, error_code=error_code,
                            answered_by=answered_by),
        can_wait=not failed)  # a failure makes the next step due now
    if moved is None:
        return None
    if isinstance(moved, statements.Unchanged):  # e.g. a call's "completed" after its key
        return HookResult(sweep_call=moved.sweep_call)
    forward.counted(moved, new, metrics)
    result = HookResult(sweep_call=moved.purpose == Purpose.SWEEP.value)
    if failed and moved.alert_id is not None and moved.purpose == Purpose.ALERT.value:
        result.changes.append(AlertChange(moved.alert_id, ChangeKind.NOTIFICATION))
    return result


async def lone_human(writes: GroupCommit, attempt_id: int, sid: str | None, *,
                     now: datetime) -> HookResult | None:
    """Answering-machine detection heard a person, as one statement with no transaction around
    it: the attempt says so and its contact, still only notified, has answered. None when the
    attempt is not this sid's (the caller applies it as usual: `amd`)."""
    if not sid:
        return None
    named = await writes.one(statements.HUMAN_ANSWERED, (attempt_id, sid, "human", now),
                             can_wait=True)
    return None if named is None else HookResult()


async def message_status(session: AsyncSession, *, attempt_id: int, sid: str | None, status: str,
                         error_code: str | None, now: datetime, metrics: Metrics) -> HookResult:
    """An SMS status callback (queued, sent, delivered, undelivered, failed)."""
    result = HookResult()
    new = map_status("sms", status)
    if new is None or await _moved_on(session, attempt_id, sid, new, now=now, metrics=metrics,
                                      result=result, error_code=error_code):
        return result
    row = await named_attempt(session, attempt_id, sid, now=now, metrics=metrics)
    if row is not None and advance(row, new, now=now, metrics=metrics):
        if error_code:
            row.error_code = error_code
        if new.is_failure:
            await _after_failure(session, row.alert_id, row.purpose, now, result)
    return result


async def call_status(session: AsyncSession, *, attempt_id: int, sid: str | None, status: str,
                      answered_by: str | None, now: datetime, metrics: Metrics) -> HookResult:
    """A call progress callback; "completed" without a keypress is not reached."""
    result = HookResult()
    new = map_status("voice", status)
    if new is None or await _moved_on(session, attempt_id, sid, new, now=now, metrics=metrics,
                                      result=result, answered_by=answered_by):
        return result
    row = await named_attempt(session, attempt_id, sid, now=now, metrics=metrics)
    if row is None:
        return result
    result.sweep_call = row.purpose == Purpose.SWEEP.value
    if answered_by and not row.answered_by:
        row.answered_by = answered_by
    if advance(row, new, now=now, metrics=metrics) and new.is_failure:
        await _after_failure(session, row.alert_id, row.purpose, now, result)
    return result


async def amd(session: AsyncSession, *, attempt_id: int, sid: str | None, answered_by: str,
              now: datetime, metrics: Metrics) -> HookResult:
    """Answering-machine detection: anything but a human is not reached; a human has answered."""
    result = HookResult()
    if answered_by == "human" and sid and await shared.ask(  # the common case: nothing loaded
            session, statements.HUMAN_ANSWERED, (attempt_id, sid, answered_by, now)) is not None:
        return result
    row = await named_attempt(session, attempt_id, sid, now=now, metrics=metrics)
    if row is None:
        return result
    row.answered_by = answered_by
    if answered_by != "human":
        if advance(row, AttemptStatus.NOT_REACHED, now=now, metrics=metrics):
            await _after_failure(session, row.alert_id, row.purpose, now, result)
    elif row.contact_id is not None and row.alert_id is not None:
        await _answered(session, row.alert_id, row.contact_id, now)
    return result


async def _answered(session: AsyncSession, alert_id: int, contact_id: int, now: datetime) -> None:
    """A person picked up: a contact still only notified has answered (forward only)."""
    await shared.ask(session, statements.ANSWERED,
                     ((alert_id, contact_id), alert_id, contact_id, now))
