"""Placing a sweep's calls and reading their results: the runner's two transactions.

At most `sweep_concurrent_calls` residents are being called at once, across every running sweep;
the calls go through the outbox below every alarm, under the account's send rate. The calls are
claimed by one conditional UPDATE (still waiting, same number of tries) in the transaction that
queues them, so across replicas and restarts each try is queued once; the resident's SMS
(texts.py) is queued with the first try, in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ..bus import AlertChange
from ..db.escalation import FINAL_ATTEMPT_STATUSES
from ..db.models import (
    EntryState,
    NotificationAttempt,
    Purpose,
    Resident,
    Sweep,
    SweepEntry,
    SweepState,
)
from ..escalation.daynight import NightHours
from ..metrics import Metrics
from ..settings import Settings
from ..wellbeing.check_call import check_call, claim_tries, result_of
from ..wellbeing.planning import Step, after_call
from .outcomes import finish
from .texts import add_text, message_in

log = logging.getLogger(__name__)
BATCH = 100  # entries per transaction
NEVER_NIGHT = NightHours(ZoneInfo("UTC"), 0, 0)  # after a disaster, residents are called at once
_FINAL = [s.value for s in FINAL_ATTEMPT_STATUSES]


async def place_next(session: AsyncSession, *, now: datetime, settings: Settings,
                     metrics: Metrics, lock_rows: bool) -> int:
    """Queue calls for the next waiting residents while places are free; how many were queued.
    The caller commits."""
    running = select(Sweep).where(Sweep.state == SweepState.RUNNING.value).order_by(col(Sweep.id))
    if lock_rows:  # replicas take turns here, so together they keep to the cap
        running = running.with_for_update()
    sweeps = (await session.exec(running)).all()
    calling = (await session.exec(select(func.count()).select_from(SweepEntry).where(
        SweepEntry.state == EntryState.CALLING.value))).one()
    free = min(settings.sweep_concurrent_calls - calling, BATCH)
    found: list[tuple[SweepEntry, Resident, Sweep]] = []
    for sweep in sweeps:  # oldest sweep first, as before
        if len(found) >= free:
            break
        found += [(entry, resident, sweep)
                  for entry, resident in await _next_waiting(session, sweep, now=now,
                                                             limit=free - len(found),
                                                             lock_rows=lock_rows)]
    ours = {entry.id for entry in await claim_tries(  # the rest: another replica took them first
        session, [entry for entry, _, _ in found], waiting=EntryState.WAITING.value,
        calling=EntryState.CALLING.value, now=now,
        look_after=timedelta(minutes=settings.wellbeing_result_minutes))}
    placed: list[tuple[SweepEntry, NotificationAttempt]] = []
    for entry, resident, sweep in found:
        if entry.id not in ours:
            continue
        if not resident.phone:
            await finish(session, entry, EntryState.NO_PHONE, now=now, metrics=metrics)
            continue
        attempt = check_call(
            to_number=resident.phone, language=resident.language, centre=settings.dispatch_name,
            now=now, purpose=Purpose.SWEEP, ask=message_in(sweep, resident.language))
        session.add(attempt)
        add_text(session, entry, resident, sweep, now=now, settings=settings)
        placed.append((entry, attempt))
    await session.flush()  # every call and text in one INSERT, the links in another
    for entry, attempt in placed:
        entry.attempt_id = attempt.id  # one executemany UPDATE at commit
    return len(placed)


async def _next_waiting(session: AsyncSession, sweep: Sweep, *, now: datetime, limit: int,
                        lock_rows: bool) -> Sequence[tuple[SweepEntry, Resident]]:
    """The sweep's next residents to call, in rank order: one sweep at a time, so that the
    (sweep_id, state, rank) index gives them in order and the read stops after `limit` rows;
    across all sweeps by state it read and sorted every waiting resident on each placing."""
    query = (select(SweepEntry, Resident)
             .join(Resident, col(Resident.id) == col(SweepEntry.resident_id))
             .where(SweepEntry.sweep_id == sweep.id,
                    SweepEntry.state == EntryState.WAITING.value,
                    or_(col(SweepEntry.due_at).is_(None), col(SweepEntry.due_at) <= now))
             .order_by(col(SweepEntry.rank)).limit(limit))
    if lock_rows:
        query = query.with_for_update(skip_locked=True, of=SweepEntry)  # type: ignore[arg-type]
    return (await session.exec(query)).all()


async def look_at_results(session: AsyncSession, *, now: datetime, settings: Settings,
                          metrics: Metrics, lock_rows: bool) -> list[AlertChange]:
    """Read calls that ended or whose look is due: wait, retry, or settle the resident; finish
    sweeps with nobody left. The caller commits, then publishes the changes."""
    query = (select(SweepEntry, NotificationAttempt)
             .join(NotificationAttempt, col(NotificationAttempt.id) == col(SweepEntry.attempt_id))
             .where(SweepEntry.state == EntryState.CALLING.value,
                    or_(col(SweepEntry.due_at) <= now,
                        col(NotificationAttempt.status).in_(_FINAL)))
             .order_by(col(SweepEntry.due_at)).limit(BATCH))
    if lock_rows:
        query = query.with_for_update(skip_locked=True, of=SweepEntry)  # type: ignore[arg-type]
    changes: list[AlertChange] = []
    for entry, attempt in (await session.exec(query)).all():
        answer = result_of(attempt)
        finished = attempt.finished_at
        if finished is not None and finished.tzinfo is None:
            finished = finished.replace(tzinfo=now.tzinfo)
        decided = after_call(answer, tries=entry.tries, max_tries=settings.sweep_call_tries,
                             finished_at=finished, now=now,
                             retry_after=timedelta(minutes=settings.sweep_retry_minutes),
                             hours=NEVER_NIGHT)
        entry.updated_at = now
        if decided.step in (Step.WAIT, Step.RETRY):
            entry.due_at = decided.due_at
            if decided.step is Step.RETRY:
                entry.state = EntryState.WAITING.value
        else:
            changes += await finish(session, entry, EntryState(decided.step.value), now=now,
                                    metrics=metrics)
    await _finish_sweeps(session, now=now)
    return changes


async def _finish_sweeps(session: AsyncSession, *, now: datetime) -> None:
    """A running sweep with nobody waiting or being called is finished."""
    await session.flush()
    # one probe of the (sweep_id, state) index per running sweep, not a scan of every entry
    open_entries = select(SweepEntry.id).where(
        col(SweepEntry.sweep_id) == col(Sweep.id),
        col(SweepEntry.state).in_([EntryState.WAITING.value, EntryState.CALLING.value]))
    await session.exec(  # type: ignore[call-overload]
        update(Sweep)
        .where(col(Sweep.state) == SweepState.RUNNING.value, ~open_entries.exists())
        .values(state=SweepState.FINISHED.value, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False))


async def next_due(session: AsyncSession) -> datetime | None:
    """The earliest time an entry needs a look: a result to read, or a retry of a running sweep
    (one round trip)."""
    calling = (select(func.min(SweepEntry.due_at))
               .where(SweepEntry.state == EntryState.CALLING.value))
    retry = (select(func.min(SweepEntry.due_at))
             .join(Sweep, col(Sweep.id) == col(SweepEntry.sweep_id))
             .where(Sweep.state == SweepState.RUNNING.value,
                    SweepEntry.state == EntryState.WAITING.value))
    found = (await session.exec(select(calling.scalar_subquery(), retry.scalar_subquery()))).one()
    times = [t for t in found if t is not None]
    return min(times) if times else None
