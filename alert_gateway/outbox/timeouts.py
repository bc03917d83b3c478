"""Before sending again a request that got no answer: did Twilio take it? (issue 12)

A timeout, or a connection lost mid-request, says nothing about Twilio: it may have created the
message or call and answered too late. Sending again then texted or rang the family twice (40 of
40 timed-out attempts in a hostile test). So before the outbox's retry of such an attempt we look:
a status callback may have filled in its sid already (callbacks.py `_attempt`); else the request
itself, which runs on past our timeout (twilio/late.py), is awaited while Twilio may still answer
it: a lookup made while Twilio still held it found nothing, and the text went out twice; else
Twilio's list of messages or calls from our number to that number, made since the attempt was,
with its body for an SMS, and not recorded on another attempt. Found: the attempt is recorded as
sent with that sid and nothing goes out again. Not found: it is sent again. The timeline says
which. When Twilio cannot be asked, it is sent again too: a second text at night is better than
none.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..clock import Clock
from ..db.engine import SessionFactory
from ..db.groupcommit import GroupCommit
from ..db.models import AlertEvent, EventKind, NotificationAttempt, NotifyChannel
from ..i18n.said import Said, say, term
from ..metrics import Metrics
from ..twilio.client import ProviderResult, SendError, TwilioSender, UnknownOutcomeError
from .results import STUCK_AFTER, first_notified
from .sending import status_callback

log = logging.getLogger(__name__)
CLOCK_SKEW = timedelta(minutes=1)  # ours against Twilio's, whose times are to the second


def answer_unknown(attempt: NotificationAttempt) -> bool:
    """The attempt's last request got no answer, so it may have gone out."""
    return attempt.retries > 0 and UnknownOutcomeError.MARK in (attempt.error or "")


async def sent_already(sender: TwilioSender, attempt: NotificationAttempt, *,
                       sessions: SessionFactory, writes: GroupCommit, clock: Clock,
                       public_url: str) -> ProviderResult | None:
    """Twilio's record of an unanswered request of `attempt`, if it has one (then do not send).

    None also for an attempt whose last request was answered: send it as usual. Writes what was
    found on the alert's timeline.
    """
    if not answer_unknown(attempt):
        return None
    what = _what(attempt)
    if attempt.provider_sid:  # a status callback beat us to it
        found: ProviderResult | None = ProviderResult(sid=attempt.provider_sid, status="queued")
    elif (late := await sender.late_answer(status_callback=status_callback(
            attempt, base=public_url))) is not None:
        # Twilio answered that very request after all (we waited while it still could)
        found = late if isinstance(late, ProviderResult) else None
    else:
        try:
            found = await _look_up(sessions, sender, attempt)
        except SendError:  # counted and logged by the sender
            await _tell(writes, clock, attempt, say("timeline.notice.not_asked", what=what))
            return None
    if found is None:
        await _tell(writes, clock, attempt, say("timeline.notice.missing", what=what))
    else:
        await _tell(writes, clock, attempt, say("timeline.notice.found", what=what, sid=found.sid),
                    sid=found.sid)
    return found


async def taken_late(session: AsyncSession, row: NotificationAttempt, *, now: datetime,
                     metrics: Metrics) -> None:
    """A status callback names an attempt whose request got no answer: Twilio had it after all.

    Said on the timeline as the lookup would say it; the send counts (first notification, the
    deadline after which a missing final status is chased), and the outbox never sends it again:
    the callback moves the row on from PENDING in the same transaction.
    """
    said = say("timeline.notice.found", what=_what(row), sid=row.provider_sid)
    row.sent_at = row.sent_at or now
    row.deadline_at = now + STUCK_AFTER[row.channel]
    if row.alert_id is not None:
        session.add(AlertEvent(alert_id=row.alert_id, at=now, kind=EventKind.NOTIFICATION.value,
                               message=said.english,
                               data={"attempt_id": row.id, "contact_id": row.contact_id,
                                     "provider_sid": row.provider_sid, **said.data()}))
    if (first := await first_notified(session, row, now)) is not None:
        severity, seconds = first
        metrics.first_notification_seconds.labels(severity=severity).observe(seconds)


async def _look_up(sessions: SessionFactory, sender: TwilioSender,
                   attempt: NotificationAttempt) -> ProviderResult | None:
    """The newest message or call Twilio made for this attempt that no other attempt claims."""
    created = attempt.created_at
    if created.tzinfo is None:  # SQLite keeps naive UTC
        created = created.replace(tzinfo=UTC)
    voice = attempt.channel == NotifyChannel.VOICE.value
    candidates = await sender.find_sent(voice=voice, to=attempt.to_number,
                                        body=None if voice else attempt.body or "",
                                        since=created - CLOCK_SKEW)
    if not candidates:
        return None
    async with sessions() as session:
        claimed = set((await session.exec(
            select(NotificationAttempt.provider_sid).where(
                col(NotificationAttempt.provider_sid).in_([c.sid for c in candidates]),
                col(NotificationAttempt.id) != attempt.id))).all())
    return next((c for c in candidates if c.sid not in claimed), None)


def _what(attempt: NotificationAttempt) -> dict[str, str]:
    """Which way the attempt's last request went unanswered, as a timeline word."""
    timed_out = "timed out" in (attempt.error or "")
    return term("timeline.notice.timed_out" if timed_out else "timeline.notice.cut_off")


async def _tell(writes: GroupCommit, clock: Clock, attempt: NotificationAttempt, said: Said,
                sid: str | None = None) -> None:
    """One timeline entry (an attempt outside any alert is only logged)."""
    log.info("dispatcher: unanswered request checked", extra={
        "attempt_id": attempt.id, "found": sid is not None})
    alert_id = attempt.alert_id
    if alert_id is None:
        return

    async def write(session: AsyncSession) -> None:
        session.add(AlertEvent(alert_id=alert_id, at=clock.now(),
                               kind=EventKind.NOTIFICATION.value, message=said.english,
                               data={"attempt_id": attempt.id, "contact_id": attempt.contact_id,
                                     "provider_sid": sid, **said.data()}))

    await writes.run(write)
