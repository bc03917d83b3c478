"""Calls about a closed alert that are still live are ended through the Twilio API.

The rows are the truth: the closing transaction (closing.void_escalation) or a late API answer
(`voided_result`) marks the attempt HANGING_UP, and the dispatcher's housekeeping ends each such
call, after a restart too, then records it as CANCELED with a timeline entry.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import col, select

from ..db.engine import SessionFactory
from ..db.models import AlertEvent, AttemptStatus, EventKind, NotificationAttempt, NotifyChannel
from ..i18n.said import say
from ..metrics import Metrics
from ..twilio.client import PermanentSendError, ProviderResult, SendError, TwilioSender
from .attempts import map_status

log = logging.getLogger(__name__)
HANG_UP_BATCH = 20
RETRY_MAX = timedelta(seconds=30)  # backoff 2, 4, 8, 16, 30 ... s between tries
GIVE_UP_AFTER = timedelta(minutes=5)  # by then Twilio has ended the call itself (ring timeout)


def voided_result(row: NotificationAttempt, result: ProviderResult | Exception, *,
                  now: datetime) -> datetime | None:
    """The API answer for an attempt voided while its request was in flight: the sid is kept and
    the attempt stays voided; a call it placed is to be hung up now. Returns when to look again."""
    if not isinstance(result, ProviderResult):
        row.error = str(result)[:500]  # nothing went out
        return None
    row.provider_sid = row.provider_sid or result.sid
    row.sent_at = now
    outcome = map_status(row.channel, result.status)
    if row.channel != NotifyChannel.VOICE.value or (outcome is not None and outcome.is_final):
        return None  # an SMS cannot be called back; a call that already ended needs nothing
    row.status, row.deadline_at = AttemptStatus.HANGING_UP.value, now
    return now


async def hang_up_closed(sessions: SessionFactory, metrics: Metrics, sender: TwilioSender, *,
                         now: datetime) -> datetime | None:
    """End each live call about a closed alert that is due (the dispatcher runs this beside its
    sends at each housekeeping, and at once when poked about a close). Returns the earliest
    retry time it set (a failed try), for the dispatcher's wake time."""
    async with sessions() as session:
        rows = (await session.exec(
            select(NotificationAttempt.id, NotificationAttempt.provider_sid)
            .where(col(NotificationAttempt.status) == AttemptStatus.HANGING_UP.value,
                   col(NotificationAttempt.deadline_at) <= now)
            .order_by(col(NotificationAttempt.deadline_at)).limit(HANG_UP_BATCH))).all()
    retry_at: datetime | None = None
    for attempt_id, sid in rows:
        assert attempt_id is not None and sid is not None  # HANGING_UP is only set with a sid
        outcome: str | SendError
        try:
            outcome = await sender.hang_up(sid=sid)
        except SendError as exc:
            outcome = exc
        again = await _record(sessions, metrics, attempt_id, outcome, now=now)
        if again is not None and (retry_at is None or again < retry_at):
            retry_at = again
    return retry_at


async def _record(sessions: SessionFactory, metrics: Metrics, attempt_id: int,
                  outcome: str | SendError, *, now: datetime) -> datetime | None:
    """Write one hang-up's outcome; returns when to try again, if it is to be tried again."""
    async with sessions() as session:
        row = await session.get(NotificationAttempt, attempt_id)
        if row is None or row.status != AttemptStatus.HANGING_UP.value:
            return None
        voided_at = row.finished_at or now
        if isinstance(outcome, SendError) and not isinstance(outcome, PermanentSendError) \
                and now - voided_at < GIVE_UP_AFTER:
            row.retries += 1
            retry_at = now + min(RETRY_MAX, timedelta(seconds=2 ** row.retries))
            row.deadline_at = retry_at
            await session.commit()
            return retry_at
        row.status, row.deadline_at, row.finished_at = AttemptStatus.CANCELED.value, None, now
        metrics.calls_hung_up.labels(
            result="failed" if isinstance(outcome, SendError) else "hung_up").inc()
        if isinstance(outcome, SendError):
            row.error = f"could not hang up: {outcome}"[:500]
            said = say("timeline.notice.not_hung_up")
            log.warning("could not hang up a call about a closed alert: %s", outcome,
                        extra={"attempt_id": attempt_id})
        else:
            said = say("timeline.notice.hung_up")
            log.info("call hung up: alert closed", extra={"attempt_id": attempt_id})
        if row.alert_id is not None:
            session.add(AlertEvent(alert_id=row.alert_id, at=now, kind=EventKind.NOTIFICATION.value,
                                   message=said.english,
                                   data={"attempt_id": attempt_id, "contact_id": row.contact_id,
                                         **said.data()}))
        await session.commit()
        return None
