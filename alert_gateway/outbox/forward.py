"""Forward-only Core UPDATEs of attempts: the common case of a status callback or a send result.

One statement decides and writes: it matches only while the row is still behind the new status
(a late "ringing" never overwrites "completed", a repeated callback matches nothing) and returns
what the caller needs for its side effects. No ORM object is loaded. When it matches nothing the
caller falls back to the row-by-row path, which handles the rare cases (a callback for a request
whose answer never came, a voided attempt, a retry) and the no-ops.

Each is a shared statement (db/shared.py): in the group commit, every callback of one batch that
moves an attempt on is one `UPDATE … FROM <rows>` (db/rowset.py), each row with its own new
status. Forward-only makes that safe: a second move of the same attempt in that batch takes the
row-by-row path after it, and the attempt ends at the furthest of them.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Integer, Table, and_, any_, bindparam, case, func, not_, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.dml import ReturningUpdate
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db import shared
from ..db.models import Alert, AttemptStatus, NotificationAttempt, NotifyChannel
from ..db.rowset import RowSet, unindexed
from ..metrics import Metrics
from ..twilio.client import UnknownOutcomeError

ATTEMPT: Table = NotificationAttempt.__table__  # type: ignore[attr-defined]
ALERT: Table = Alert.__table__  # type: ignore[attr-defined]
RETURNED = (ATTEMPT.c.id, ATTEMPT.c.alert_id, ATTEMPT.c.contact_id, ATTEMPT.c.channel,
             ATTEMPT.c.purpose)


@dataclass(frozen=True)
class Moved:
    """The row a forward UPDATE moved: what its caller needs for the side effects."""

    alert_id: int | None
    contact_id: int | None
    channel: str
    purpose: str


_LOCK = (select(ATTEMPT.c.id)
         .where(ATTEMPT.c.id == any_(bindparam("ids", type_=ARRAY(Integer))))
         .order_by(ATTEMPT.c.id).with_for_update())


async def lock_attempts(session: AsyncSession, ids: list[Hashable]) -> None:
    """Lock the attempt rows in id order (PostgreSQL; SQLite has one writer at a time)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.exec(_LOCK, params={"ids": ids})  # type: ignore[call-overload]


def in_lock_order(statement: Any, ids: Any, dialect: str) -> Any:
    """`statement` (an UPDATE of attempts) taking its rows' locks in id order before it writes
    them, as `lock_attempts` would in a statement of its own (PostgreSQL: an UPDATE alone locks
    rows in whatever order its plan meets them)."""
    if dialect != "postgresql":
        return statement
    locked = (select(ATTEMPT.c.id).where(ATTEMPT.c.id == ids).order_by(ATTEMPT.c.id)
              .with_for_update(of=ATTEMPT).subquery("locked"))
    return statement.where(ATTEMPT.c.id == locked.c.id)


async def _nothing(session: shared.Statements, rows: list[shared.Row]) -> dict[Hashable, Any]:
    return {}


LOCKED = shared.Kind("attempt locked", (shared.ATTEMPTS, 0), _nothing, lock=lock_attempts)


async def lock(session: AsyncSession, attempt_id: int) -> None:
    """Lock the attempt before reading it to decide (in id order with the batch's others; alone,
    the caller's own `FOR UPDATE` read locks it)."""
    await shared.ask(session, LOCKED, (attempt_id,))


async def _run(session: shared.Statements, statement: Any, rows: RowSet,
               values: list[shared.Row]) -> list[Any]:
    result = await session.exec(statement, params=rows.params(session.get_bind().dialect, values))
    return list(result.all())


ADVANCED = RowSet("moves", (("id", ATTEMPT.c.id.type), ("sid", ATTEMPT.c.provider_sid.type),
                             ("status", ATTEMPT.c.status.type), ("rank", Integer()),
                             ("finished_at", ATTEMPT.c.finished_at.type),
                             ("error_code", ATTEMPT.c.error_code.type),
                             ("answered_by", ATTEMPT.c.answered_by.type)))
# An attempt's progress in SQL; a final status ranks above every new one (it never moves on).
_NOT_FINAL_RANKS = {s.value: s.rank for s in AttemptStatus if not s.is_final}
FINAL_RANK = 99


@cache
def advance_statement(dialect: str) -> ReturningUpdate[Any]:
    """Every row moves its attempt to its own status: one statement for a round's moves, whatever
    their statuses (one per status cost a round trip each)."""
    v = ADVANCED.source(dialect).c
    rank = case(_NOT_FINAL_RANKS, value=unindexed(ATTEMPT.c.status, dialect), else_=FINAL_RANK)
    # With a sid: ours, or a callback that beat the API answer (not one whose answer never came).
    answer_unknown = and_(ATTEMPT.c.retries > 0, func.coalesce(ATTEMPT.c.error, "").contains(
        UnknownOutcomeError.MARK, autoescape=True))
    sid_agrees = or_(v.sid.is_(None), ATTEMPT.c.provider_sid == v.sid,
                     and_(ATTEMPT.c.provider_sid.is_(None), not_(answer_unknown)))
    return (in_lock_order(update(ATTEMPT), ADVANCED.source(dialect).c.id, dialect)
            .where(ATTEMPT.c.id == v.id, rank < v.rank, sid_agrees)
            .values(status=v.status,
                    provider_sid=func.coalesce(ATTEMPT.c.provider_sid, v.sid),
                    error_code=func.coalesce(v.error_code, ATTEMPT.c.error_code),
                    answered_by=func.coalesce(ATTEMPT.c.answered_by, v.answered_by),
                    finished_at=func.coalesce(v.finished_at, ATTEMPT.c.finished_at),
                    deadline_at=case((v.finished_at.is_(None), ATTEMPT.c.deadline_at), else_=None))
            .returning(*RETURNED))


async def _run_advance(session: shared.Statements, rows: list[shared.Row]) -> dict[Hashable, Any]:
    statement = advance_statement(session.get_bind().dialect.name)
    return {r[0]: Moved(*r[1:]) for r in await _run(session, statement, ADVANCED, rows)}


# After Twilio's acceptance (QUEUED) in a round: a callback that beat the API answer moves on from
# there. Two moves of one attempt in a round: the first asked runs here, the other takes the
# row-by-row path (rare: Twilio's callbacks of one call come seconds apart).
ADVANCE = shared.Kind("attempt moves on", (shared.ATTEMPTS, 11 + AttemptStatus.QUEUED.rank),
                      _run_advance, lock=lock_attempts, locks_in_order=True)


async def advance(session: AsyncSession, attempt_id: int, new: AttemptStatus, *, sid: str | None,
                  now: datetime, metrics: Metrics, error_code: str | None = None,
                  answered_by: str | None = None) -> Moved | None:
    """Move the attempt forward to `new`; None when it is not behind. With `sid`, only if that
    is its sid or it has none yet (a callback may beat the API answer: the sid is filled in).

    `error_code` is kept with the move; `answered_by` only fills an empty column.
    """
    moved: Moved | None = await shared.ask(session, ADVANCE, advance_row(
        attempt_id, new, sid=sid, now=now, error_code=error_code, answered_by=answered_by))
    counted(moved, new, metrics)
    return moved


def advance_row(attempt_id: int, new: AttemptStatus, *, sid: str | None, now: datetime,
                error_code: str | None = None, answered_by: str | None = None) -> shared.Row:
    """The ADVANCE row of `advance` (also asked alone: GroupCommit.one)."""
    return (attempt_id, sid or None, new.value, new.rank, now if new.is_final else None,
            error_code or None, answered_by or None)


def counted(moved: Moved | None, new: AttemptStatus, metrics: Metrics) -> None:
    """Count a move that ended the attempt."""
    if moved is not None and new.is_final:
        metrics.notifications.labels(channel=moved.channel, status=new.value).inc()


ACCEPTS = RowSet("accepts", (("id", ATTEMPT.c.id.type), ("sid", ATTEMPT.c.provider_sid.type),
                              ("now", ATTEMPT.c.sent_at.type), ("kept_body", ATTEMPT.c.body.type),
                              ("sms_deadline", ATTEMPT.c.deadline_at.type),
                              ("voice_deadline", ATTEMPT.c.deadline_at.type)))


@cache
def accepted_statement(dialect: str) -> ReturningUpdate[Any]:
    """Twilio took the attempt's request: QUEUED, its sid, deadline and `sent_at` (the row's now)."""
    v = ACCEPTS.source(dialect).c
    return (
        in_lock_order(update(ATTEMPT), ACCEPTS.source(dialect).c.id, dialect)
        .where(ATTEMPT.c.id == v.id,
               unindexed(ATTEMPT.c.status, dialect) == AttemptStatus.SENDING.value)
        .values(provider_sid=func.coalesce(ATTEMPT.c.provider_sid, v.sid), sent_at=v.now,
                body=func.coalesce(v.kept_body, ATTEMPT.c.body),
                status=AttemptStatus.QUEUED.value,
                deadline_at=case((ATTEMPT.c.channel == NotifyChannel.SMS.value, v.sms_deadline),
                                 else_=v.voice_deadline))
        # Whether the alert was notified before: its second send then needs no first-notified UPDATE.
        .returning(*RETURNED, ATTEMPT.c.deadline_at,
                   select(ALERT.c.first_notified_at).where(ALERT.c.id == ATTEMPT.c.alert_id)
                   .scalar_subquery().is_not(None).label("notified_before"))
    )


@dataclass(frozen=True)
class Accepted:
    """An attempt Twilio took: the row, its new deadline, and whether its alert was notified
    before (a send recorded earlier, in this transaction too)."""

    moved: Moved
    deadline: datetime | None
    notified_before: bool


async def _run_accepted(session: shared.Statements, rows: list[shared.Row]) -> dict[Hashable, Any]:
    statement = accepted_statement(session.get_bind().dialect.name)
    return {r[0]: Accepted(Moved(*r[1:5]), r[5], bool(r[6]))
            for r in await _run(session, statement, ACCEPTS, rows)}


ACCEPTED = shared.Kind("attempt accepted", (shared.ATTEMPTS, 10 + AttemptStatus.QUEUED.rank),
                       _run_accepted, lock=lock_attempts, locks_in_order=True)


async def accepted(session: AsyncSession, attempt_id: int, sid: str, *, now: datetime,
                   sms_deadline: datetime, voice_deadline: datetime,
                   kept_body: str | None = None) -> Accepted | None:
    """Twilio took the request of an attempt still SENDING: QUEUED with its sid and deadline
    (and `kept_body` as its text from now on, when given).

    None when the row has moved on meanwhile (a callback came first, or its alert closed).
    """
    taken: Accepted | None = await shared.ask(session, ACCEPTED, (
        attempt_id, sid, now, kept_body, sms_deadline, voice_deadline))
    return taken
