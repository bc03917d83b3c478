"""The outbox dispatcher: sends attempts by priority then age, under the account send rate.

Attempts reach it two ways, both already SENDING under a lease (committed): intake hands over the
first sends of a stored alarm in memory (`submit`), and the dispatcher claims PENDING rows itself.
At most `send_concurrency` requests are in flight. A crash leaves claimed rows whose lease
expires and puts them back in the outbox, so lease recovery sends what was claimed and not
recorded. A live process renews the leases of everything it holds (submitted and not started yet,
or in flight) on the injected clock, and never takes its own back.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ..bus import AlertChange, ChangeKind
from ..db.engine import is_sqlite
from ..db.models import Alert, AttemptStatus, NotificationAttempt, NotifyChannel, Purpose
from ..escalation import hooks
from ..services import Services
from ..twilio.client import PermanentSendError, ProviderResult, TransientSendError, TwilioSender
from ..twilio.twiml import alert_call_twiml
from ..unit_of_work import publish
from .attempts import advance, map_status
from .claiming import URGENT_RANK, claim, lease_of
from .closing import of_closed_alert, void_stragglers
from .hangup import hang_up_closed, voided_result
from .ratelimit import TokenBucket
from .stuck import WATCHED, chase

log = logging.getLogger(__name__)
MAX_RETRIES = 5  # transient API errors per attempt, with backoff 2, 4, 8, 16, 32 s
STUCK_AFTER = {NotifyChannel.SMS.value: timedelta(minutes=5),
               NotifyChannel.VOICE.value: timedelta(minutes=3)}
HOUSEKEEPING_EVERY = timedelta(seconds=1)  # lease recovery and stuck-attempt chasing, at most
RECORD_TRIES = 3  # a result we got must be written: a lost write would send the attempt again


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("dispatcher: hanging up calls about closed alerts failed; housekeeping retries",
                  exc_info=task.exception())


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
        self.lease = lease_of(self.settings)
        self.concurrency = self.settings.send_concurrency
        self._inflight: dict[int, asyncio.Task[None]] = {}
        # claimed elsewhere (intake) and handed over, not started yet: most urgent, then oldest first
        self._held: dict[int, NotificationAttempt] = {}
        self._order: list[tuple[int, datetime, int]] = []
        self._urgent_only = False  # a storm is being stored: claim only P1/P2 rows meanwhile
        self._housekeeping_at: datetime | None = None
        self._waiting = False  # the last claim filled every free slot: more rows may be due
        self._sleeping_until: datetime | None = None  # None: awake, or asleep until poked
        self._hang_ups_due = False  # poked about a close: look for calls to hang up this cycle
        self._held_may_be_void = False  # an alert closed since sends were handed over: check them
        self._hanging_up: asyncio.Task[None] | None = None  # beside the sends, never in their way
        self._lock_rows = not is_sqlite(self.settings.database_url)

    def poke(self, *, closed: bool = False) -> None:
        """Look at the outbox now; `closed`: an alert may have closed, so end its live calls now
        rather than at the next housekeeping."""
        self._hang_ups_due = self._hang_ups_due or closed
        self._held_may_be_void = self._held_may_be_void or (closed and bool(self._held))
        self.wake.set()

    def submit(self, claimed: list[NotificationAttempt], *, storm: bool = False) -> None:
        """Send these committed, already claimed attempts as slots and the send rate allow.

        `storm`: more alarms wait to be stored. Until a batch says otherwise, the outbox claim
        takes only P1/P2 rows: a P1 about to be stored must not wait behind P3s claimed now.
        """
        released = self._urgent_only and not storm
        self._urgent_only = storm
        for attempt in claimed:
            assert attempt.id is not None
            self._held[attempt.id] = attempt
            heapq.heappush(self._order, (attempt.priority, attempt.created_at, attempt.id))
        if claimed or released:
            self.wake.set()

    def _ours(self) -> list[int]:
        """Attempts this process holds a lease on: renewed here, never recovered from ourselves."""
        return [*self._inflight, *self._held]

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: send what is due, then sleep until the next not_before/deadline or a poke."""
        await self.sender.start()
        relay = asyncio.create_task(self._relay(stop))
        renewer = asyncio.create_task(self._renew_leases(stop))
        delay = 0.1
        try:
            while not stop.is_set():
                self.wake.clear()
                try:
                    busy = await self.cycle(self.services.clock.now())
                    full = len(self._inflight) >= self.concurrency
                    wake_at = None if busy or full else await self.next_wake()
                    delay = 0.1
                except (SQLAlchemyError, OSError) as exc:
                    log.error("dispatcher: database error, retrying: %s", exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    delay = min(delay * 2, 5.0)
                    continue
                if full:
                    await self.wake.wait()  # a finished request frees a slot and pokes
                elif not busy:
                    self._sleeping_until = wake_at
                    await self.services.clock.wait(wake_at, self.wake)
                    self._sleeping_until = None
        finally:
            relay.cancel()
            renewer.cancel()
            if self._hanging_up is not None:
                self._hanging_up.cancel()  # rows say what is left: the next start hangs them up
            await self._finish_in_flight()
            await self._release_held()
            await self.sender.close()

    async def _finish_in_flight(self) -> None:
        """On a clean stop, let running requests end and record their result (bounded)."""
        tasks = list(self._inflight.values())
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.twilio_timeout_seconds + 5)

    async def _release_held(self) -> None:
        """On a stop, attempts handed over but not started go back to the outbox at once (rather
        than waiting out their lease after the restart)."""
        ids = list(self._held)
        if not ids:
            return
        try:
            async with self.services.sessions() as session:
                await session.exec(update(NotificationAttempt)  # type: ignore[call-overload]
                                   .where(col(NotificationAttempt.id).in_(ids),
                                          col(NotificationAttempt.status) == AttemptStatus.SENDING.value)
                                   .values(status=AttemptStatus.PENDING.value, deadline_at=None))
                await session.commit()
        except (SQLAlchemyError, OSError) as exc:  # still ours: a restarted loop sends them
            log.warning("dispatcher: held sends not released: %s", exc)
            return
        self._held.clear()  # back in the outbox: only a claim may send them now
        self._order.clear()

    async def _renew_leases(self, stop: asyncio.Event) -> None:
        """Keep the leases of what this process holds from expiring, on the injected clock (a
        lease is measured on it: a test that moves the clock moves renewal with it)."""
        every = self.lease / 3
        while not stop.is_set():
            await self.services.clock.wait(self.services.clock.now() + every, stop)
            ids = self._ours()
            if not ids:
                continue
            try:
                async with self.services.sessions() as session:
                    await session.exec(update(NotificationAttempt)  # type: ignore[call-overload]
                                       .where(col(NotificationAttempt.id).in_(ids),
                                              col(NotificationAttempt.status) == AttemptStatus.SENDING.value)
                                       .values(deadline_at=self.services.clock.now() + self.lease))
                    await session.commit()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("dispatcher: could not renew send leases: %s", exc)

    async def _relay(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.wake.set()

    async def cycle(self, now: datetime) -> bool:
        """Recover expired leases, start sends in the free slots, chase stuck ones. True if more may wait."""
        more = await self._send_due(now)
        if self._housekeeping_at is None or now >= self._housekeeping_at:
            # after the sends, every second at most: on SQLite even an UPDATE that matches nothing
            # takes the write lock
            self._housekeeping_at = now + HOUSEKEEPING_EVERY
            self._hang_up_closed(now)
            await self._recover(now)
            await self._chase_stuck(now)
        elif self._hang_ups_due:
            self._hang_up_closed(now)
        return more

    def _hang_up_closed(self, now: datetime) -> None:
        """End live calls about closed alerts in a task of its own: a slow Twilio (two requests
        per call, each up to the timeout) must not hold up the sends of other alarms."""
        self._hang_ups_due = False
        if self._hanging_up is not None and not self._hanging_up.done():
            return  # the next housekeeping looks again
        self._hanging_up = asyncio.create_task(
            hang_up_closed(self.services, self.sender, now=now), name="hang-ups")
        self._hanging_up.add_done_callback(_log_failure)

    async def _send_due(self, now: datetime) -> bool:
        """Start handed-over attempts, then claim due rows, for the free slots. True if more may wait."""
        free = self.concurrency - len(self._inflight)
        if free <= 0:
            return False
        tokens = self.bucket.take_now(free)
        if tokens == 0:  # the account rate is spent: wait for the next token (real time)
            await asyncio.sleep(self.bucket.delay())
            tokens = self.bucket.take_now(free)
        if self._held_may_be_void:
            await self._drop_voided_held()
        while self._order and tokens:  # already claimed and committed: no transaction needed
            attempt = self._held.pop(heapq.heappop(self._order)[2])
            self._start(attempt)
            tokens -= 1
        if self._order:  # the rate or the slots ran out first
            self._waiting = True
            return True
        batch, looked_at = await self._claim(now, tokens) if tokens else ([], 0)
        self.bucket.give_back(tokens - len(batch))
        for attempt in batch:
            self._start(attempt)
        self._waiting = looked_at == tokens > 0
        return self._waiting

    async def _drop_voided_held(self) -> None:
        """Forget handed-over sends whose alert closed meanwhile (the close voided their rows):
        one SELECT, only after a close, so the usual hand-over stays free of queries."""
        self._held_may_be_void = False
        asked = list(self._held)  # more may be handed over while we wait: those are not asked about
        async with self.services.sessions() as session:
            still = set((await session.exec(
                select(NotificationAttempt.id).where(
                    col(NotificationAttempt.id).in_(asked),
                    col(NotificationAttempt.status) == AttemptStatus.SENDING.value))).all())
        for attempt_id in asked:
            if attempt_id not in still:
                self._held.pop(attempt_id, None)
        self._order = [entry for entry in self._order if entry[2] in self._held]
        heapq.heapify(self._order)

    def _start(self, attempt: NotificationAttempt) -> None:
        """Run one claimed attempt's request; its slot frees (and pokes) when it is recorded."""
        assert attempt.id is not None
        attempt_id = attempt.id
        task = asyncio.create_task(self._send(attempt), name=f"send-{attempt_id}")
        self._inflight[attempt_id] = task

        def done(t: asyncio.Task[None]) -> None:
            was_full = len(self._inflight) >= self.concurrency
            self._inflight.pop(attempt_id, None)
            failed = not t.cancelled() and t.exception() is not None
            if failed:
                log.error("dispatcher: send failed unrecorded; its lease will expire",
                          exc_info=t.exception(), extra={"attempt_id": attempt_id})
            # A freed slot matters only if rows wait for one; an unrecorded send leaves a lease
            # the sleeping loop did not count (it was ours): look again so it is recovered.
            if was_full or self._waiting or failed:
                self.wake.set()

        task.add_done_callback(done)

    async def _recover(self, now: datetime) -> None:
        """A SENDING row whose lease ran out was in flight when a gateway died: send it again,
        unless its alert closed meanwhile (nobody is called about a closed alert)."""
        async with self.services.sessions() as session:
            await void_stragglers(session, now=now)  # else their expired leases wake us forever
            await session.exec(update(NotificationAttempt)  # type: ignore[call-overload]
                               .where(col(NotificationAttempt.status) == AttemptStatus.SENDING.value,
                                      col(NotificationAttempt.deadline_at) < now,
                                      col(NotificationAttempt.id).not_in(self._ours()),
                                      ~of_closed_alert())
                               .values(status=AttemptStatus.PENDING.value, deadline_at=None,
                                       retries=NotificationAttempt.retries + 1))
            await session.commit()

    async def _claim(self, now: datetime, limit: int) -> tuple[list[NotificationAttempt], int]:
        """Take up to `limit` due rows, most urgent first, skipping rows another replica holds.

        Returns the rows to send now and how many rows were looked at (capped ones wait).
        """
        query = (select(NotificationAttempt)
                 .where(col(NotificationAttempt.status) == AttemptStatus.PENDING.value,
                        col(NotificationAttempt.not_before) <= now,
                        ~of_closed_alert())  # housekeeping voids those
                 .order_by(col(NotificationAttempt.priority), col(NotificationAttempt.created_at),
                           col(NotificationAttempt.id))
                 .limit(limit))
        if self._urgent_only:
            query = query.where(col(NotificationAttempt.priority) <= URGENT_RANK)
        if self._lock_rows:
            query = query.with_for_update(skip_locked=True)
        async with self.services.sessions() as session:
            rows = list((await session.exec(query)).all())
            if not rows:  # nothing to write: no commit (on SQLite it would take the write lock)
                return [], 0
            claimed = await claim(session, rows, now=now, settings=self.settings)
            await session.commit()
        return claimed, len(rows)

    async def _send(self, attempt: NotificationAttempt) -> None:
        """One API call under the send rate; the outcome is written in its own transaction."""
        assert attempt.id is not None
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
        for tries in range(RECORD_TRIES):
            try:
                await self._record(attempt.id, result)
                return
            except (SQLAlchemyError, OSError) as exc:
                if tries == RECORD_TRIES - 1:
                    raise
                log.warning("dispatcher: could not record a send, retrying: %s", exc)
                await asyncio.sleep(0.2 * 2 ** tries)

    async def _record(self, attempt_id: int, result: ProviderResult | Exception) -> None:
        """Write one send's outcome in a transaction shared with other results and callbacks."""
        first_latency, changes, look_at = await self.services.writes.run(
            lambda session: self._apply_result(session, attempt_id, result),
            preload=(NotificationAttempt, attempt_id))
        # The row now has a deadline (or a retry time) the sleeping loop did not know about.
        if look_at is not None and (self._sleeping_until is None or look_at < self._sleeping_until):
            self.wake.set()
        if first_latency is not None:
            severity, seconds = first_latency
            self.services.metrics.first_notification_seconds.labels(severity=severity).observe(seconds)
        # Shared with other callers' work in one transaction: publishes after that commit.
        await publish(self.services.bus, changes)

    async def _apply_result(self, session: AsyncSession, attempt_id: int,
                            result: ProviderResult | Exception,
                            ) -> tuple[tuple[str, float] | None, list[AlertChange], datetime | None]:
        now = self.services.clock.now()
        changes: list[AlertChange] = []
        first_latency: tuple[str, float] | None = None
        row = await session.get(NotificationAttempt, attempt_id)
        if row is None:
            return None, changes, None
        if row.status == AttemptStatus.CANCELED.value:  # its alert closed while we were sending
            return None, changes, voided_result(row, result, now=now)
        if isinstance(result, ProviderResult):
            row.provider_sid = row.provider_sid or result.sid
            row.sent_at = now
            # A callback may have moved the row on (even to a final status) before this answer came.
            # The row was read in this transaction (locked on PostgreSQL), so its status is current.
            if row.status == AttemptStatus.SENDING.value:
                row.status = AttemptStatus.QUEUED.value
                row.deadline_at = now + STUCK_AFTER[row.channel]
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
                changes.append(AlertChange(row.alert_id, ChangeKind.NOTIFICATION))
        look_at = row.not_before if row.status == AttemptStatus.PENDING.value else row.deadline_at
        return first_latency, changes, look_at

    async def _first(self, session: AsyncSession, row: NotificationAttempt,
                     now: datetime) -> tuple[str, float] | None:
        """(severity, seconds since the alarm) when this is the alert's first notification sent.

        The fact is the row's `first_notified_at`, set once by a conditional UPDATE: a second send
        recorded in the same shared transaction, a rerun or another replica finds it set.
        """
        if row.alert_id is None or row.purpose != Purpose.ALERT.value:
            return None
        alert = Alert.__table__  # type: ignore[attr-defined]
        with session.no_autoflush:  # nothing pending in a shared session bears on this column
            first = (await session.exec(  # type: ignore[call-overload]
                update(alert)
                .where(alert.c.id == row.alert_id, alert.c.first_notified_at.is_(None))
                .values(first_notified_at=now)
                .returning(alert.c.severity, alert.c.opened_at))).first()
        if first is None:
            return None
        severity, opened_at = first
        if opened_at.tzinfo is None:
            opened_at = opened_at.replace(tzinfo=now.tzinfo)
        return severity, max(0.0, (now - opened_at).total_seconds())

    async def _chase_stuck(self, now: datetime) -> None:
        """Attempts whose final callback never came: ask Twilio, else count them as not reached."""
        await chase(self.services, self.sender, now=now)

    async def next_wake(self) -> datetime | None:
        """The next time the outbox needs a look: a deferred send, a lease or a deadline."""
        async with self.services.sessions() as session:
            due = select(func.min(NotificationAttempt.not_before)).where(
                NotificationAttempt.status == AttemptStatus.PENDING.value,
                ~of_closed_alert())  # never claimed: housekeeping voids them
            if self._urgent_only:  # the rest waits for the storm's last batch (which wakes us)
                due = due.where(col(NotificationAttempt.priority) <= URGENT_RANK)
            pending = (await session.exec(due)).one()
            deadline = (await session.exec(select(func.min(NotificationAttempt.deadline_at)).where(
                col(NotificationAttempt.status).in_([*WATCHED, AttemptStatus.SENDING.value]),
                col(NotificationAttempt.id).not_in(self._ours())))).one()  # ours: renewed
        tz = self.services.clock.now().tzinfo
        times = [t if t.tzinfo else t.replace(tzinfo=tz) for t in (pending, deadline) if t is not None]
        if not times:
            return None
        # housekeeping runs at most once a second, so an earlier deadline waits for that
        earliest = min(times)
        if pending is None or earliest < times[0]:  # the earliest is a deadline
            earliest = max(earliest, self._housekeeping_at or earliest)
        return earliest
