"""The outbox queries of the dispatcher: claim due rows, recover lost leases, renew and release
its own, and find when it next needs to look. Each runs in a transaction of its own."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, any_, bindparam, column, exists, func, or_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from ..db.engine import SessionFactory
from ..db.inlists import one_of
from ..db.models import Alert, AttemptStatus, NotificationAttempt
from ..settings import Settings
from .backlog import Backlog
from .claiming import URGENT_RANK, claim
from .closing import of_closed_alert, void_stragglers
from .stuck import WATCHED

SENDING = AttemptStatus.SENDING.value


def _among(session: AsyncSession, ids: Sequence[int]) -> ColumnElement[bool]:
    """`id IN ids` as one parameter: an array on PostgreSQL, JSON on SQLite.

    In a storm this process holds 15,000 sends, and these queries run every housekeeping second:
    as an IN list, rendering 15,000 bind parameters each time was about a tenth of the gateway's
    CPU in the storm's profile (`_literal_execute_expanding_parameter`).
    """
    dialect = session.get_bind().dialect.name
    return _listed(dialect, bindparam(None, _ids(dialect, ids), type_=_IDS_TYPE.get(dialect)))


_IDS_TYPE = {"postgresql": ARRAY(Integer)}


def _listed(dialect: str, ids: Any) -> ColumnElement[bool]:
    """`id IN` the list bound to `ids` (the parameter `_ids` gives it)."""
    if dialect == "postgresql":
        return col(NotificationAttempt.id) == any_(ids)
    listed = select(column("value", Integer)).select_from(func.json_each(ids))
    return col(NotificationAttempt.id).in_(listed.scalar_subquery())


def _ids(dialect: str, ids: Sequence[int]) -> object:
    """The value of `_listed`'s parameter: an array on PostgreSQL, JSON text on SQLite."""
    return list(ids) if dialect == "postgresql" else json.dumps(list(ids))


@cache
def _held_back(backlog: Backlog) -> ColumnElement[bool] | None:
    """SQL: the rows the claim may take while `backlog` waits to be stored, None for all.

    While alarms wait, urgent rows only. In a storm also no second channel (its alert neither
    notified yet nor with a send of its own claimed): every P1's people are then reached once
    before anyone gets a text beside a call; the rest waits for the storm's last batch."""
    if backlog is Backlog.NONE:
        return None
    urgent = col(NotificationAttempt.priority) <= URGENT_RANK
    if backlog is Backlog.ALARMS:
        return urgent
    other = aliased(NotificationAttempt)
    unreached = and_(
        ~exists().where(col(Alert.id) == NotificationAttempt.alert_id,
                        col(Alert.first_notified_at).is_not(None)),
        ~exists().where(col(other.alert_id) == NotificationAttempt.alert_id,
                        col(other.id) != NotificationAttempt.id, col(other.status) == SENDING))
    return and_(urgent, or_(col(NotificationAttempt.alert_id).is_(None), unreached))


async def claim_due(sessions: SessionFactory, *, now: datetime, limit: int, backlog: Backlog,
                    lock_rows: bool, settings: Settings, background: int | None = None,
                    ) -> tuple[list[NotificationAttempt], int, bool]:
    """Take up to `limit` due rows, most urgent first, skipping rows another replica holds;
    of those less urgent than an alarm's (a sweep's or a check's calls), at most `background`.

    Returns the rows to send now, how many rows were looked at (capped ones wait), and whether
    less urgent rows were left for want of `background` places.
    """
    async with sessions() as session:
        found = list((await session.exec(_claim_statement(backlog, lock_rows),
                                         params={"now": now, "limit": limit})).all())
        rows = found if background is None else _within(found, background)
        if not rows:  # nothing to write: no commit (on SQLite it would take the write lock)
            return [], 0, bool(found)
        claimed = await claim(session, rows, now=now, settings=settings)
        await session.commit()
    return claimed, len(rows), len(rows) < len(found)


@cache
def _claim_statement(backlog: Backlog, lock_rows: bool) -> SelectOfScalar[Any]:
    """The claim's SELECT, built once: `now` and `limit` are bound at execution (building it and
    its cache key for every claim was most of a background send's claim, in Python)."""
    query = (select(NotificationAttempt)
             .where(col(NotificationAttempt.status) == AttemptStatus.PENDING.value,
                    col(NotificationAttempt.not_before) <= bindparam("now"),
                    ~of_closed_alert())  # housekeeping voids those
             .order_by(col(NotificationAttempt.priority), col(NotificationAttempt.created_at),
                       col(NotificationAttempt.id))
             .limit(bindparam("limit", type_=Integer)))
    if (allowed := _held_back(backlog)) is not None:
        query = query.where(allowed)
    if lock_rows:
        query = query.with_for_update(skip_locked=True)
    return query  # type: ignore[return-value]


def _within(rows: list[NotificationAttempt], background: int) -> list[NotificationAttempt]:
    """`rows` (most urgent first) with at most `background` of those less urgent than alarms."""
    urgent = [r for r in rows if r.priority <= URGENT_RANK]
    return urgent + rows[len(urgent):len(urgent) + max(background, 0)]


async def recover(sessions: SessionFactory, *, now: datetime, ours: Sequence[int]) -> None:
    """A SENDING row whose lease ran out was in flight when a gateway died: send it again,
    unless its alert closed meanwhile (nobody is called about a closed alert)."""
    async with sessions() as session:
        await void_stragglers(session, now=now)  # else their expired leases wake us forever
        await session.exec(update(NotificationAttempt)  # type: ignore[call-overload]
                           .where(col(NotificationAttempt.status) == SENDING,
                                  col(NotificationAttempt.deadline_at) < now,
                                  ~_among(session, ours),
                                  ~of_closed_alert())
                           .values(status=AttemptStatus.PENDING.value, deadline_at=None,
                                   retries=NotificationAttempt.retries + 1)
                           # these sessions hold no loaded rows: nothing to synchronize
                           .execution_options(synchronize_session=False))
        await session.commit()


async def renew(sessions: SessionFactory, ids: Sequence[int], *, until: datetime) -> None:
    """Extend the leases of the attempts this process holds to `until`.

    A row locked right now is being recorded (its result or a callback moves it off SENDING in
    a shared transaction): skipped rather than waited for, so renewal never deadlocks with it.
    """
    async with sessions() as session:
        free = (select(NotificationAttempt.id)
                .where(_among(session, ids), col(NotificationAttempt.status) == SENDING)
                .with_for_update(skip_locked=True))
        await session.exec(update(NotificationAttempt)  # type: ignore[call-overload]
                           .where(col(NotificationAttempt.id).in_(free.scalar_subquery()),
                                  col(NotificationAttempt.status) == SENDING)
                           .values(deadline_at=until)
                           .execution_options(synchronize_session=False))
        await session.commit()


async def release(sessions: SessionFactory, ids: Sequence[int]) -> None:
    """Put attempts this process holds but never started back in the outbox."""
    async with sessions() as session:
        await session.exec(update(NotificationAttempt)  # type: ignore[call-overload]
                           .where(_among(session, ids),
                                  col(NotificationAttempt.status) == SENDING)
                           .values(status=AttemptStatus.PENDING.value, deadline_at=None)
                           .execution_options(synchronize_session=False))
        await session.commit()


async def still_sending(sessions: SessionFactory, ids: Sequence[int]) -> set[int]:
    """Those of `ids` still SENDING (a close voids the rest)."""
    async with sessions() as session:
        rows = (await session.exec(
            select(NotificationAttempt.id).where(
                _among(session, ids),
                col(NotificationAttempt.status) == SENDING))).all()
    return {attempt_id for attempt_id in rows if attempt_id is not None}


async def next_wake(sessions: SessionFactory, *, now: datetime, ours: Sequence[int],
                    backlog: Backlog, housekeeping_at: datetime | None) -> datetime | None:
    """The next time the outbox needs a look: a deferred send, a lease or a deadline."""
    async with sessions() as session:
        dialect = session.get_bind().dialect.name
        pending = (await session.exec(_due_statement(backlog))).one()
        deadline = (await session.exec(_deadline_statement(dialect),
                                       params={"ours": _ids(dialect, ours)})).one()
    times = [t if t.tzinfo else t.replace(tzinfo=now.tzinfo) for t in (pending, deadline)
             if t is not None]
    if not times:
        return None
    # housekeeping runs at most once a second, so an earlier deadline waits for that
    earliest = min(times)
    if pending is None or earliest < times[0]:  # the earliest is a deadline
        earliest = max(earliest, housekeeping_at or earliest)
    return earliest


@cache
def _due_statement(backlog: Backlog) -> SelectOfScalar[Any]:
    """The earliest send time among PENDING rows (built once, as the one below)."""
    due = select(func.min(NotificationAttempt.not_before)).where(
        NotificationAttempt.status == AttemptStatus.PENDING.value,
        ~of_closed_alert())  # never claimed: housekeeping voids them
    if (allowed := _held_back(backlog)) is not None:  # the rest: the batch after them wakes us
        due = due.where(allowed)
    return due


@cache
def _deadline_statement(dialect: str) -> SelectOfScalar[Any]:
    """The earliest deadline of attempts in flight but those bound to `ours` (renewed)."""
    return select(func.min(NotificationAttempt.deadline_at)).where(
        one_of(col(NotificationAttempt.status), [*WATCHED, SENDING]),
        ~_listed(dialect, bindparam("ours", type_=_IDS_TYPE.get(dialect))))
