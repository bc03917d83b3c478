"""Closing an alert voids its escalation messages: nobody is called about a closed alert.

The one writer: acknowledging, cancelling and resolving all reach `void_escalation` (through
hooks.stop and hooks.watch) inside the closing transaction. The dispatcher applies the same rule
in SQL (`of_closed_alert`) when it claims and recovers, so a row written by an engine tick that
raced the close is never sent either. Notices about the closure (taken, cancelled, summary) have
other purposes and still go out.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import ColumnElement, CursorResult, and_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.inlists import one_of
from ..db.models import (
    Alert,
    AlertEvent,
    AlertStatus,
    AttemptStatus,
    EventKind,
    NotificationAttempt,
    NotifyChannel,
    Purpose,
)
from ..i18n.said import say

# The escalation itself: once the alert is no longer open, nobody is to be called about it.
ESCALATION_PURPOSES = (Purpose.ALERT.value, Purpose.EXHAUSTED.value)
UNSENT = (AttemptStatus.PENDING.value, AttemptStatus.SENDING.value)
# A call Twilio is placing or ringing, or one that was answered: it can be ended through the API.
LIVE_CALL = (AttemptStatus.QUEUED.value, AttemptStatus.SENT.value, AttemptStatus.RINGING.value,
             AttemptStatus.IN_PROGRESS.value)


@cache
def of_closed_alert() -> ColumnElement[bool]:
    """SQL: the attempt is an escalation message and its alert is no longer open (built once)."""
    closed = (select(col(Alert.id))
              .where(col(Alert.id) == col(NotificationAttempt.alert_id),
                     col(Alert.status) != AlertStatus.OPEN.value)
              .exists())
    return and_(one_of(col(NotificationAttempt.purpose), ESCALATION_PURPOSES), closed)


async def void_escalation(session: AsyncSession, *, alert_id: int, now: datetime) -> None:
    """The alert closed: its unsent and in-flight escalation messages are voided, ringing calls
    are marked to be hung up (the dispatcher does it), and the timeline says so."""
    of_alert = (col(NotificationAttempt.alert_id) == alert_id,
                col(NotificationAttempt.purpose).in_(ESCALATION_PURPOSES))
    # Leased (SENDING) rows too: after a crash, lease recovery would otherwise send them again.
    unsent = await _update(session, update(NotificationAttempt)
                           .where(*of_alert, col(NotificationAttempt.status).in_(UNSENT))
                           .values(status=AttemptStatus.CANCELED.value, finished_at=now,
                                   deadline_at=None))
    calls = await _update(session, update(NotificationAttempt)
                          .where(*of_alert, col(NotificationAttempt.status).in_(LIVE_CALL),
                                 col(NotificationAttempt.channel) == NotifyChannel.VOICE.value,
                                 col(NotificationAttempt.provider_sid).is_not(None))
                          .values(status=AttemptStatus.HANGING_UP.value, deadline_at=now,
                                  finished_at=now))  # voided at; the hang-up is due now
    if unsent or calls:
        key = "closed_both" if unsent and calls else "closed_unsent" if unsent else "closed_hang_up"
        said = say(f"timeline.notice.{key}", unsent=unsent, calls=calls)
        session.add(AlertEvent(alert_id=alert_id, at=now, kind=EventKind.NOTIFICATION.value,
                               message=said.english,
                               data={"voided": unsent, "hang_up": calls, **said.data()}))


async def void_stragglers(session: AsyncSession, *, now: datetime) -> None:
    """Unsent escalation messages of alerts already closed (an engine tick raced the close):
    voided, never sent. Housekeeping, in the dispatcher's recovery transaction."""
    rows = await session.exec(  # type: ignore[call-overload]
        update(NotificationAttempt)
        .where(col(NotificationAttempt.status).in_(UNSENT), of_closed_alert())
        .values(status=AttemptStatus.CANCELED.value, finished_at=now, deadline_at=None)
        .returning(col(NotificationAttempt.alert_id)))
    for alert_id in sorted({a for a in rows.scalars().all() if a is not None}):
        said = say("timeline.notice.closed_straggler")
        session.add(AlertEvent(alert_id=alert_id, at=now, kind=EventKind.NOTIFICATION.value,
                               message=said.english, data=said.data()))


async def _update(session: AsyncSession, statement: object) -> int:
    result: CursorResult[object] = await session.exec(statement)  # type: ignore[call-overload]
    return int(result.rowcount)
