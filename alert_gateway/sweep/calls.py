"""Placing a sweep's calls and reading their results, in the runner's one transaction a tick.

At most `sweep_concurrent_calls` residents are being called at once, across every running sweep;
the calls go through the outbox below every alarm, under the account's send rate. The calls are
claimed by one conditional UPDATE (still waiting, same number of tries) in the transaction that
queues them, so across replicas and restarts each try is queued once; the resident's SMS
(texts.py) is queued with the first try, in the same transaction.

A sweep's calls end about twenty a second, and each end pokes the runner: the statements are
built once here (building them and their cache keys on each tick cost as much as running them),
and the calls and texts go in as plain rows (executemany), not through the ORM's flush.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, bindparam, func, insert, or_
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ..bus import AlertChange
from ..db.escalation import FINAL_ATTEMPT_STATUSES
from ..db.inlists import one_of
from ..db.models import (
    EntryState,
    NotificationAttempt,
    Purpose,
    Resident,
    Sweep,
    SweepEntry,
    SweepLink,
    SweepState,
)
from ..escalation.daynight import NightHours
from ..metrics import Metrics
from ..settings import Settings
from ..wellbeing.check_call import check_call_values, claim_tries, result_of
from ..wellbeing.planning import Step, after_call
from .outcomes import finish
from .texts import message_in, text_rows

log = logging.getLogger(__name__)
BATCH = 100  # entries per transaction
NEVER_NIGHT = NightHours(ZoneInfo("UTC"), 0, 0)  # after a disaster, residents are called at once
_FINAL = sorted(s.value for s in FINAL_ATTEMPT_STATUSES)
_OPEN = (EntryState.WAITING.value, EntryState.CALLING.value)
_ENTRY = SweepEntry.__table__  # type: ignore[attr-defined]
_ATTEMPT = NotificationAttempt.__table__  # type: ignore[attr-defined]
_NOW = bindparam("now", type_=_ENTRY.c.due_at.type)
_RUNNING = (select(Sweep).where(Sweep.state == SweepState.RUNNING.value)
            .order_by(col(Sweep.id)))
_RUNNING_LOCKED = _RUNNING.with_for_update()  # replicas take turns here, so together keep the cap
_CALLING = select(func.count()).select_from(SweepEntry).where(
    SweepEntry.state == EntryState.CALLING.value)
_WAITING = (select(SweepEntry, Resident)  # the (sweep_id, state, rank) index, stops at `limit`
            .join(Resident, col(Resident.id) == col(SweepEntry.resident_id))
            .where(SweepEntry.sweep_id == bindparam("sweep_id"),
                   SweepEntry.state == EntryState.WAITING.value,
                   or_(col(SweepEntry.due_at).is_(None), col(SweepEntry.due_at) <= _NOW))
            .order_by(col(SweepEntry.rank)).limit(bindparam("limit", type_=Integer)))
_WAITING_LOCKED = _WAITING.with_for_update(skip_locked=True, of=SweepEntry)  # type: ignore[arg-type]
_QUEUE = insert(_ATTEMPT).returning(_ATTEMPT.c.id, sort_by_parameter_order=True)
_ADD_LINK = insert(SweepLink.__table__)  # type: ignore[attr-defined]
_LINK_CALL = (update(_ENTRY).where(_ENTRY.c.id == bindparam("entry"))
              .values(attempt_id=bindparam("attempt")))
_ENDED = (select(SweepEntry, NotificationAttempt)  # calls ended, or whose look is due
          .join(NotificationAttempt, col(NotificationAttempt.id) == col(SweepEntry.attempt_id))
          .where(SweepEntry.state == EntryState.CALLING.value,
                 or_(col(SweepEntry.due_at) <= _NOW,
                     one_of(col(NotificationAttempt.status), _FINAL)))
          .order_by(col(SweepEntry.due_at)).limit(BATCH))
_ENDED_LOCKED = _ENDED.with_for_update(skip_locked=True, of=SweepEntry)  # type: ignore[arg-type]
# one probe of the (sweep_id, state) index per running sweep, not a scan of every entry
_FINISH = (update(Sweep)
           .where(col(Sweep.state) == SweepState.RUNNING.value, ~select(SweepEntry.id).where(
               col(SweepEntry.sweep_id) == col(Sweep.id),
               one_of(col(SweepEntry.state), _OPEN)).exists())
           .values(state=SweepState.FINISHED.value, finished_at=_NOW, updated_at=_NOW)
           .execution_options(synchronize_session=False))
_NEXT_LOOK = (select(func.min(SweepEntry.due_at))  # a call's result to read
              .where(SweepEntry.state == EntryState.CALLING.value))
_NEXT_DUE = select(
    _NEXT_LOOK.scalar_subquery(),
    select(func.min(SweepEntry.due_at))  # a retry of a running sweep
    .join(Sweep, col(Sweep.id) == col(SweepEntry.sweep_id))
    .where(Sweep.state == SweepState.RUNNING.value,
           SweepEntry.state == EntryState.WAITING.value).scalar_subquery())


@dataclass(frozen=True, slots=True)
class Placed:
    """What a placing did: calls queued, and whether every place is now taken (never with no
    sweep running: nothing waits for a place)."""

    count: int
    full: bool = False


async def place_next(session: AsyncSession, *, now: datetime, settings: Settings,
                     metrics: Metrics, lock_rows: bool) -> Placed:
    """Queue calls for the next waiting residents while places are free. The caller commits."""
    sweeps = (await session.exec(_RUNNING_LOCKED if lock_rows else _RUNNING)).all()
    if not sweeps:
        return Placed(0)
    calling = (await session.exec(_CALLING)).one()
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
    sends: list[dict[str, Any]] = []  # each call, then its texts: the order the ids come back in
    links: list[dict[str, Any]] = []
    placed: list[tuple[SweepEntry, int]] = []  # the entry and its call's place in `sends`
    for entry, resident, sweep in found:
        if entry.id not in ours:
            continue
        if not resident.phone:
            await finish(session, entry, EntryState.NO_PHONE, now=now, metrics=metrics)
            continue
        placed.append((entry, len(sends)))
        sends.append(check_call_values(
            to_number=resident.phone, language=resident.language, centre=settings.dispatch_name,
            now=now, purpose=Purpose.SWEEP, ask=message_in(sweep, resident.language)))
        texts, link = text_rows(entry, resident, sweep, now=now, settings=settings)
        sends += texts
        links += [link] if link is not None else []
    full = calling + len(placed) >= settings.sweep_concurrent_calls
    if not placed:
        return Placed(0, full)
    connection = await session.connection()  # plain rows, no ORM instances
    ids = (await connection.execute(_QUEUE, sends)).scalars().all()
    if links:
        await connection.execute(_ADD_LINK, links)
    await connection.execute(_LINK_CALL, [{"entry": entry.id, "attempt": ids[at]}
                                          for entry, at in placed])
    for entry, at in placed:  # as the UPDATE left it, without reading it back
        set_committed_value(entry, "attempt_id", ids[at])
    return Placed(len(placed), full)


async def _next_waiting(session: AsyncSession, sweep: Sweep, *, now: datetime, limit: int,
                        lock_rows: bool) -> Sequence[tuple[SweepEntry, Resident]]:
    """The sweep's next residents to call, in rank order: one sweep at a time, so that the
    (sweep_id, state, rank) index gives them in order and the read stops after `limit` rows;
    across all sweeps by state it read and sorted every waiting resident on each placing."""
    return (await session.exec(  # type: ignore[call-overload]
        _WAITING_LOCKED if lock_rows else _WAITING,
        params={"sweep_id": sweep.id, "now": now, "limit": limit})).all()


async def look_at_results(session: AsyncSession, *, now: datetime, settings: Settings,
                          metrics: Metrics, lock_rows: bool) -> list[AlertChange]:
    """Read calls that ended or whose look is due: wait, retry, or settle the resident; finish
    sweeps with nobody left. The caller commits, then publishes the changes."""
    changes: list[AlertChange] = []
    for entry, attempt in (await session.exec(  # type: ignore[call-overload]
            _ENDED_LOCKED if lock_rows else _ENDED, params={"now": now})).all():
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
    await session.exec(_FINISH, params={"now": now})  # type: ignore[call-overload]


async def next_due(session: AsyncSession, *, full: bool) -> datetime | None:
    """The earliest time an entry needs a look: a result to read, or (with a place free) a retry
    of a running sweep, in one round trip. With every place taken a retry due waits for a call
    to end, which pokes the runner (its final callback, or Twilio's refusal: outbox/delivery.py)
    or is found at its result's look: were the retry counted, the runner would look again at
    once, and again, until then."""
    if full:
        return (await session.exec(_NEXT_LOOK)).one()
    found = (await session.exec(_NEXT_DUE)).one()
    times = [t for t in found if t is not None]
    return min(times) if times else None
