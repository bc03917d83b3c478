"""The outbox dispatcher: sends pending attempts by priority then age, under the account send rate.

An attempt is marked SENDING (with a lease) and committed before the API call, so a crash can
repeat only that one attempt: an expired lease puts it back in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ..bus import AlertChange
from ..db.engine import is_sqlite
from ..db.models import Alert, AttemptStatus, NotificationAttempt, NotifyChannel, Purpose, Target
from ..services import Services
from ..twilio.client import PermanentSendError, ProviderResult, TransientSendError, TwilioSender
from ..twilio.twiml import alert_call_twiml
from . import hooks
from .attempts import advance, map_status
from .ratelimit import TokenBucket
from .stuck import IN_FLIGHT, chase

log = logging.getLogger(__name__)
MAX_RETRIES = 5  # transient API errors per attempt, with backoff 2, 4, 8, 16, 32 s
STUCK_AFTER = {NotifyChannel.SMS.value: timedelta(minutes=5),
               NotifyChannel.VOICE.value: timedelta(minutes=3)}
MAX_CLAIM = 50


def callback_url(base: str, path: str, attempt_id: int) -> str:
    """A webhook URL on our public base, naming the attempt (callbacks may beat the API answer)."""
    return f"{base.rstrip('/')}/twilio/{path}?attempt={attempt_id}"


class Dispatcher:
    """Hands outbox rows to Twilio; `poke()` wakes it when the outbox grew."""

    def __init__(self, services: Services, sender: TwilioSender) -> None:
        self.services = services
        self.sender = sender
        self.settings = services.settings
        self.bucket = TokenBucket(self.settings.send_rate_per_second)
        self.wake = asyncio.Event()
        self.lease = timedelta(seconds=self.settings.twilio_timeout_seconds * 3)
        self._lock_rows = not is_sqlite(self.settings.database_url)

    def poke(self) -> None:
        """Look at the outbox now."""
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: send what is due, then sleep until the next not_before/deadline or a poke."""
        await self.sender.start()
        relay = asyncio.create_task(self._relay(stop))
        delay = 0.1
        try:
            while not stop.is_set():
                self.wake.clear()
                try:
                    busy = await self.cycle(self.services.clock.now())
                    wake_at = None if busy else await self.next_wake()
                    delay = 0.1
                except (SQLAlchemyError, OSError) as exc:
                    log.error("dispatcher: database error, retrying: %s", exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    delay = min(delay * 2, 5.0)
                    continue
                if not busy:
                    await self.services.clock.wait(wake_at, self.wake)
        finally:
            relay.cancel()
            await self.sender.close()

    async def _relay(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.wake.set()

    async def cycle(self, now: datetime) -> bool:
        """Recover expired leases, send one batch, chase stuck attempts. True if more may wait."""
        await self._recover(now)
        batch = await self._claim(now, min(MAX_CLAIM, max(1, self.bucket.available())))
        if batch:
            await asyncio.gather(*(self._send(a) for a in batch))
        await self._chase_stuck(now)
        return len(batch) > 0

    async def _recover(self, now: datetime) -> None:
        """A SENDING row whose lease ran out was in flight when a gateway died: send it again."""
        async with self.services.sessions() as session:
            await session.exec(update(NotificationAttempt)  # type: ignore[call-overload]
                               .where(col(NotificationAttempt.status) == AttemptStatus.SENDING.value,
                                      col(NotificationAttempt.deadline_at) < now)
                               .values(status=AttemptStatus.PENDING.value, deadline_at=None,
                                       retries=NotificationAttempt.retries + 1))
            await session.commit()

    async def _claim(self, now: datetime, limit: int) -> list[NotificationAttempt]:
        """Take due rows, most urgent first, skipping rows another replica holds."""
        query = (select(NotificationAttempt)
                 .where(col(NotificationAttempt.status) == AttemptStatus.PENDING.value,
                        col(NotificationAttempt.not_before) <= now)
                 .order_by(col(NotificationAttempt.priority), col(NotificationAttempt.created_at),
                           col(NotificationAttempt.id))
                 .limit(limit))
        if self._lock_rows:
            query = query.with_for_update(skip_locked=True)
        async with self.services.sessions() as session:
            rows = list((await session.exec(query)).all())
            capped = await self._over_cap(session, rows, now)
            for row in rows:
                if row.id in capped:
                    row.not_before = now + timedelta(seconds=self.settings.contact_cap_window_seconds)
                else:
                    row.status = AttemptStatus.SENDING.value
                    row.deadline_at = now + self.lease
            await session.commit()
        return [r for r in rows if r.id not in capped]

    async def _over_cap(self, session: AsyncSession, rows: list[NotificationAttempt],
                        now: datetime) -> set[int | None]:
        """Rows to a contact who already got `contact_cap_per_window` alerts in the window."""
        numbers = {r.to_number for r in rows
                   if r.target == Target.CONTACT.value and r.purpose == Purpose.ALERT.value}
        if not numbers:
            return set()
        since = now - timedelta(seconds=self.settings.contact_cap_window_seconds)
        counts = dict((await session.exec(
            select(NotificationAttempt.to_number, func.count())
            .where(col(NotificationAttempt.to_number).in_(numbers),
                   col(NotificationAttempt.purpose) == Purpose.ALERT.value,
                   col(NotificationAttempt.sent_at) >= since)
            .group_by(NotificationAttempt.to_number))).all())
        capped: set[int | None] = set()
        for row in rows:
            if row.to_number in numbers:
                counts[row.to_number] = counts.get(row.to_number, 0) + 1
                if counts[row.to_number] > self.settings.contact_cap_per_window:
                    capped.add(row.id)
        return capped

    async def _send(self, attempt: NotificationAttempt) -> None:
        """One API call under the send rate; the outcome is written in its own transaction."""
        assert attempt.id is not None
        await self.bucket.take()
        base = self.settings.public_url
        try:
            if attempt.channel == NotifyChannel.SMS.value:
                result: ProviderResult | Exception = await self.sender.send_sms(
                    to=attempt.to_number, body=attempt.body or "",
                    status_callback=callback_url(base, "sms/status", attempt.id))
            else:
                spoken = json.loads(attempt.body or "{}")
                twiml = alert_call_twiml(
                    text=spoken.get("text", ""), language=spoken.get("language", "ja-JP"),
                    action_url=callback_url(base, "voice/gather", attempt.id),
                    repeat_text=spoken.get("repeat", ""), goodbye_text=spoken.get("goodbye", ""))
                result = await self.sender.place_call(
                    to=attempt.to_number, twiml=twiml,
                    status_callback=callback_url(base, "voice/status", attempt.id),
                    amd_callback=callback_url(base, "voice/amd", attempt.id))
        except (TransientSendError, PermanentSendError) as exc:
            result = exc
        await self._record(attempt.id, result)

    async def _record(self, attempt_id: int, result: ProviderResult | Exception) -> None:
        now = self.services.clock.now()
        changes: list[AlertChange] = []
        first_latency: tuple[str, float] | None = None
        async with self.services.sessions() as session:
            row = await session.get(NotificationAttempt, attempt_id)
            if row is None:
                return
            if isinstance(result, ProviderResult):
                row.provider_sid = row.provider_sid or result.sid
                row.sent_at = now
                await session.flush()
                # A callback may have moved the row on (even to a final status) since we read it:
                # the database, not our copy, decides whether it is still SENDING.
                await session.exec(update(NotificationAttempt)  # type: ignore[call-overload]
                                   .where(col(NotificationAttempt.id) == attempt_id,
                                          col(NotificationAttempt.status)
                                          == AttemptStatus.SENDING.value)
                                   .values(status=AttemptStatus.QUEUED.value,
                                           deadline_at=now + STUCK_AFTER[row.channel]))
                await session.refresh(row)
                new = map_status(row.channel, result.status)
                if new is not None and new.rank > AttemptStatus.QUEUED.rank:
                    advance(row, new, now=now, metrics=self.services.metrics)
                first_latency = await self._first(session, row, now)
            elif isinstance(result, TransientSendError) and row.retries < MAX_RETRIES:
                row.retries += 1
                row.status = AttemptStatus.PENDING.value
                row.not_before = now + timedelta(seconds=2 ** row.retries)
                row.error = str(result)[:500]
            else:
                row.status = AttemptStatus.SENDING.value  # so advance() accepts the failure
                advance(row, AttemptStatus.FAILED, now=now, metrics=self.services.metrics)
                row.error = str(result)[:500]
                row.error_code = getattr(result, "code", None)
                if row.alert_id is not None and row.purpose == Purpose.ALERT.value:
                    await hooks.poke(session, row.alert_id, now=now)
                    changes.append(AlertChange(row.alert_id, "notification"))
            await session.commit()
        if first_latency is not None:
            severity, seconds = first_latency
            self.services.metrics.first_notification_seconds.labels(severity=severity).observe(seconds)
        for change in changes:
            await self.services.bus.publish(change)

    async def _first(self, session: AsyncSession, row: NotificationAttempt,
                     now: datetime) -> tuple[str, float] | None:
        """(severity, seconds since the alarm) when this is the alert's first notification sent."""
        if row.alert_id is None or row.purpose != Purpose.ALERT.value:
            return None
        earlier = (await session.exec(select(func.count()).where(
            NotificationAttempt.alert_id == row.alert_id, col(NotificationAttempt.id) != row.id,
            col(NotificationAttempt.sent_at).is_not(None),
            col(NotificationAttempt.purpose) == Purpose.ALERT.value))).one()
        alert = await session.get(Alert, row.alert_id)
        if earlier or alert is None:
            return None
        return alert.severity, max(0.0, (now - alert.opened_at).total_seconds())

    async def _chase_stuck(self, now: datetime) -> None:
        """Attempts whose final callback never came: ask Twilio, else count them as not reached."""
        await chase(self.services, self.sender, now=now)

    async def next_wake(self) -> datetime | None:
        """The next time the outbox needs a look: a deferred send, a lease or a deadline."""
        async with self.services.sessions() as session:
            pending = (await session.exec(select(func.min(NotificationAttempt.not_before)).where(
                NotificationAttempt.status == AttemptStatus.PENDING.value))).one()
            deadline = (await session.exec(select(func.min(NotificationAttempt.deadline_at)).where(
                col(NotificationAttempt.status).in_([*IN_FLIGHT, AttemptStatus.SENDING.value])))).one()
        times = [t for t in (pending, deadline) if t is not None]
        return min(times) if times else None
