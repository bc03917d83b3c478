"""Placing due wellbeing calls and reading their results: the scheduler's two transactions.

Due windows are claimed by one conditional UPDATE (still scheduled, same number of tries) in the
transaction that queues their calls, so across replicas and restarts each try is queued once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..bus import AlertChange
from ..db.models import NotificationAttempt, Resident, WellbeingCall, WellbeingState
from ..metrics import Metrics
from ..settings import Settings
from .check_call import check_call, claim_tries, result_of
from .outcomes import finish
from .planning import Step, after_call
from .windows import night_hours

log = logging.getLogger(__name__)
BATCH = 100  # windows per transaction


async def place_due(session: AsyncSession, *, now: datetime, settings: Settings,
                    metrics: Metrics, lock_rows: bool) -> int:
    """Queue the calls of due windows (claimed here, not by another replica); how many were
    queued. The caller commits."""
    query = (select(WellbeingCall, Resident)
             .join(Resident, col(Resident.id) == col(WellbeingCall.resident_id))
             .where(WellbeingCall.state == WellbeingState.SCHEDULED.value,
                    col(WellbeingCall.due_at) <= now)
             .order_by(col(WellbeingCall.due_at), col(WellbeingCall.id)).limit(BATCH))
    if lock_rows:
        query = query.with_for_update(skip_locked=True, of=WellbeingCall)  # type: ignore[arg-type]
    found = (await session.exec(query)).all()
    ours = {call.id for call in await claim_tries(  # the rest: another replica took them first
        session, [call for call, _ in found], waiting=WellbeingState.SCHEDULED.value,
        calling=WellbeingState.CALLING.value, now=now,
        look_after=timedelta(minutes=settings.wellbeing_result_minutes))}
    placed: list[tuple[WellbeingCall, NotificationAttempt]] = []
    for call, resident in found:
        if call.id not in ours:
            continue
        if not resident.phone or not resident.active or resident.erased_at is not None:
            log.warning("wellbeing call dropped: no phone, or the resident left",
                        extra={"resident_id": resident.id})
            await finish(session, call, WellbeingState.DROPPED, now=now, metrics=metrics)
            continue
        attempt = check_call(to_number=resident.phone, language=resident.language,
                             centre=settings.dispatch_name, now=now)
        session.add(attempt)
        placed.append((call, attempt))
    await session.flush()  # the calls in one INSERT
    for call, attempt in placed:
        call.attempt_id = attempt.id
    return len(placed)


async def look_at_results(session: AsyncSession, *, now: datetime, settings: Settings,
                          metrics: Metrics, lock_rows: bool) -> list[AlertChange]:
    """Read the result of calls whose look is due: wait, retry, or settle the window.
    The caller commits, then publishes the changes."""
    query = (select(WellbeingCall, NotificationAttempt, Resident.wellbeing_timezone)
             .join(NotificationAttempt,
                   col(NotificationAttempt.id) == col(WellbeingCall.attempt_id))
             .join(Resident, col(Resident.id) == col(WellbeingCall.resident_id))
             .where(WellbeingCall.state == WellbeingState.CALLING.value,
                    col(WellbeingCall.due_at) <= now)
             .order_by(col(WellbeingCall.due_at)).limit(BATCH))
    if lock_rows:
        query = query.with_for_update(skip_locked=True, of=WellbeingCall)  # type: ignore[arg-type]
    changes: list[AlertChange] = []
    for call, attempt, timezone in (await session.exec(query)).all():
        answer = result_of(attempt)
        finished = attempt.finished_at
        if finished is not None and finished.tzinfo is None:
            finished = finished.replace(tzinfo=now.tzinfo)
        decided = after_call(answer, tries=call.tries, max_tries=settings.wellbeing_call_tries,
                             finished_at=finished, now=now,
                             retry_after=timedelta(minutes=settings.wellbeing_retry_minutes),
                             hours=night_hours(timezone, settings))
        if answer is not None:
            metrics.wellbeing_calls.labels(result=answer.value).inc()
        if decided.step in (Step.WAIT, Step.RETRY):
            assert decided.due_at is not None
            call.due_at, call.updated_at = decided.due_at, now
            if decided.step is Step.RETRY:
                call.state = WellbeingState.SCHEDULED.value
        else:
            changes += await finish(session, call, WellbeingState(decided.step.value), now=now,
                                    metrics=metrics)
    return changes


async def next_due(session: AsyncSession) -> datetime | None:
    """The earliest time a window needs a look (a call to place or a result to read)."""
    return (await session.exec(
        select(WellbeingCall.due_at)
        .where(col(WellbeingCall.state).in_([WellbeingState.SCHEDULED.value,
                                             WellbeingState.CALLING.value]))
        .order_by(col(WellbeingCall.due_at)).limit(1))).first()
