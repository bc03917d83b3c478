"""Forward-only Core UPDATEs of an attempt: the common case of a status callback or a send result.

One statement decides and writes: it matches only while the row is still behind the new status
(a late "ringing" never overwrites "completed", a repeated callback matches nothing) and returns
what the caller needs for its side effects. No ORM object is loaded. When it matches nothing the
caller falls back to the row-by-row path, which handles the rare cases (a callback for a request
whose answer never came, a voided attempt, a retry) and the no-ops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, and_, bindparam, case, func, not_, or_, select, update
from sqlalchemy.sql.dml import ReturningUpdate
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import Alert, AttemptStatus, NotificationAttempt, NotifyChannel
from ..metrics import Metrics
from ..twilio.client import UnknownOutcomeError

ATTEMPT: Table = NotificationAttempt.__table__  # type: ignore[attr-defined]
ALERT: Table = Alert.__table__  # type: ignore[attr-defined]
_RETURNED = (ATTEMPT.c.alert_id, ATTEMPT.c.contact_id, ATTEMPT.c.channel, ATTEMPT.c.purpose)


@dataclass(frozen=True)
class Moved:
    """The row a forward UPDATE moved: what its caller needs for the side effects."""

    alert_id: int | None
    contact_id: int | None
    channel: str
    purpose: str


def behind(new: AttemptStatus) -> list[str]:
    """The statuses an attempt may move on to `new` from: not final, and of a lower rank."""
    return [s.value for s in AttemptStatus if not s.is_final and s.rank < new.rank]


@cache
def _advance(new: AttemptStatus, by_sid: bool) -> ReturningUpdate[Any]:
    """Built once per (status, sid or not): executing a built statement skips its construction."""
    where = [ATTEMPT.c.id == bindparam("attempt_id"), ATTEMPT.c.status.in_(behind(new))]
    values: dict[str, Any] = {}
    if by_sid:  # ours, or a callback that beat the API answer (not one whose answer never came)
        sid = bindparam("sid", type_=ATTEMPT.c.provider_sid.type)
        answer_unknown = and_(ATTEMPT.c.retries > 0, func.coalesce(ATTEMPT.c.error, "").contains(
            UnknownOutcomeError.MARK, autoescape=True))
        where.append(or_(ATTEMPT.c.provider_sid == sid,
                         and_(ATTEMPT.c.provider_sid.is_(None), not_(answer_unknown))))
        values["provider_sid"] = func.coalesce(ATTEMPT.c.provider_sid, sid)
    values |= {
        "status": new.value,
        "error_code": func.coalesce(bindparam("new_error_code", type_=ATTEMPT.c.error_code.type),
                                    ATTEMPT.c.error_code),
        "answered_by": func.coalesce(ATTEMPT.c.answered_by,
                                     bindparam("new_answered_by", type_=ATTEMPT.c.answered_by.type)),
    }
    if new.is_final:
        values |= {"finished_at": bindparam("now", type_=ATTEMPT.c.finished_at.type),
                   "deadline_at": None}
    return update(ATTEMPT).where(and_(*where)).values(values).returning(*_RETURNED)


async def advance(session: AsyncSession, attempt_id: int, new: AttemptStatus, *, sid: str | None,
                  now: datetime, metrics: Metrics, error_code: str | None = None,
                  answered_by: str | None = None) -> Moved | None:
    """Move the attempt forward to `new`; None when it is not behind. With `sid`, only if that
    is its sid or it has none yet (a callback may beat the API answer: the sid is filled in).

    `error_code` is kept with the move; `answered_by` only fills an empty column.
    """
    params = {"attempt_id": attempt_id, "new_error_code": error_code or None,
              "new_answered_by": answered_by or None, "now": now}
    if sid:
        params["sid"] = sid
    row = (await session.exec(_advance(new, bool(sid)), params=params)).first()
    if row is None:
        return None
    moved = Moved(*row)
    if new.is_final:
        metrics.notifications.labels(channel=moved.channel, status=new.value).inc()
    return moved


_ACCEPTED = (
    update(ATTEMPT)
    .where(ATTEMPT.c.id == bindparam("attempt_id"),
           ATTEMPT.c.status == AttemptStatus.SENDING.value)
    .values(provider_sid=func.coalesce(ATTEMPT.c.provider_sid,
                                       bindparam("sid", type_=ATTEMPT.c.provider_sid.type)),
            sent_at=bindparam("now", type_=ATTEMPT.c.sent_at.type),
            body=func.coalesce(bindparam("kept_body", type_=ATTEMPT.c.body.type), ATTEMPT.c.body),
            status=AttemptStatus.QUEUED.value,
            deadline_at=case((ATTEMPT.c.channel == NotifyChannel.SMS.value,
                              bindparam("sms_deadline", type_=ATTEMPT.c.deadline_at.type)),
                             else_=bindparam("voice_deadline", type_=ATTEMPT.c.deadline_at.type)))
    # Whether the alert was notified before: its second send then needs no first-notified UPDATE.
    .returning(*_RETURNED, ATTEMPT.c.deadline_at,
               select(ALERT.c.first_notified_at).where(ALERT.c.id == ATTEMPT.c.alert_id)
               .scalar_subquery().is_not(None))
)


@dataclass(frozen=True)
class Accepted:
    """An attempt Twilio took: the row, its new deadline, and whether its alert was notified
    before (a send recorded earlier, in this transaction too)."""

    moved: Moved
    deadline: datetime | None
    notified_before: bool


async def accepted(session: AsyncSession, attempt_id: int, sid: str, *, now: datetime,
                   sms_deadline: datetime, voice_deadline: datetime,
                   kept_body: str | None = None) -> Accepted | None:
    """Twilio took the request of an attempt still SENDING: QUEUED with its sid and deadline
    (and `kept_body` as its text from now on, when given).

    None when the row has moved on meanwhile (a callback came first, or its alert closed).
    """
    row = (await session.exec(_ACCEPTED, params={
        "attempt_id": attempt_id, "sid": sid, "now": now, "sms_deadline": sms_deadline,
        "voice_deadline": voice_deadline, "kept_body": kept_body})).first()
    if row is None:
        return None
    return Accepted(Moved(*row[:4]), row[4], bool(row[5]))


_ANSWERED_BY = (
    update(ATTEMPT)
    .where(ATTEMPT.c.id == bindparam("attempt_id"), ATTEMPT.c.provider_sid == bindparam("sid"))
    .values(answered_by=bindparam("new_answered_by", type_=ATTEMPT.c.answered_by.type))
    .returning(*_RETURNED)
)


async def answered_by(session: AsyncSession, attempt_id: int, sid: str, value: str) -> Moved | None:
    """Record who answered the attempt's call (answering-machine detection); None if not ours."""
    row = (await session.exec(_ANSWERED_BY, params={"attempt_id": attempt_id, "sid": sid,
                                                "new_answered_by": value})).first()
    return None if row is None else Moved(*row)
