"""The outbox dispatcher: sends attempts by priority then age, under the account send rate.

Attempts reach it two ways, both already SENDING under a lease (committed): intake hands over the
first sends of a stored alarm in memory (`submit`), and the dispatcher claims PENDING rows itself.
At most `send_concurrency` requests are in flight. A crash leaves claimed rows whose lease
expires and puts them back in the outbox, so lease recovery sends what was claimed and not
recorded. A live process renews the leases of everything it holds (submitted and not started yet,
or in flight) on the injected clock, and never takes its own back.

It asks the database (claim, housekeeping, next wake time) only when the outbox may hold rows it
has not looked for: at start, when poked (a change here or on another replica), when a slot frees
while rows wait, and when its wake time comes. Sends handed over in memory and results it recorded
itself need no query: a recorded retry time or deadline only moves its wake time earlier, in memory
(at 10 alarms/s each of those wakes cost a claim and two next-wake queries).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from ..bus import AlertBus
from ..clock import Clock
from ..db.engine import SessionFactory, is_sqlite
from ..db.groupcommit import GroupCommit
from ..db.models import NotificationAttempt, NotifyChannel
from ..line.client import LineSender
from ..metrics import Metrics
from ..settings import Settings
from ..twilio.client import TwilioSender
from . import queue
from .claiming import lease_of
from .delivery import Delivery
from .hangup import hang_up_closed
from .ratelimit import TokenBucket
from .stuck import chase

log = logging.getLogger(__name__)
HOUSEKEEPING_EVERY = timedelta(seconds=1)  # lease recovery and stuck-attempt chasing, at most


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("dispatcher: hanging up calls about closed alerts failed; housekeeping retries",
                  exc_info=task.exception())


class Dispatcher:
    """Hands outbox rows to Twilio; `poke()` wakes it when the outbox grew."""

    def __init__(self, settings: Settings, clock: Clock, sessions: SessionFactory, bus: AlertBus,
                 metrics: Metrics, writes: GroupCommit, sender: TwilioSender,
                 line: LineSender) -> None:
        self.settings = settings
        self._clock = clock
        self._sessions = sessions
        self._bus = bus
        self._metrics = metrics
        self.sender = sender
        self._line = line  # started and closed with the dispatcher
        self._delivery = Delivery(settings, clock, sessions, bus, metrics, writes, sender, line)
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
        self._look = True  # the outbox may hold due rows not looked for yet (start, a poke)
        # the next look: the database's earliest time at the last look, lowered by what was
        # learnt since in memory (None: nothing known, sleep until poked)
        self._wake_at: datetime | None = None
        self._hang_ups_due = False  # poked about a close: look for calls to hang up this cycle
        self._held_may_be_void = False  # an alert closed since sends were handed over: check them
        self._hanging_up: asyncio.Task[None] | None = None  # beside the sends, never in their way
        self._lock_rows = not is_sqlite(self.settings.database_url)

    def poke(self, *, closed: bool = False) -> None:
        """Look at the outbox now; `closed`: an alert may have closed, so end its live calls now
        rather than at the next housekeeping."""
        self._hang_ups_due = self._hang_ups_due or closed
        self._held_may_be_void = self._held_may_be_void or (closed and bool(self._held))
        self._look = True
        self.wake.set()

    def note_due(self, at: datetime | None) -> None:
        """Rows were queued (or a row got a retry time or deadline) that need a look at `at`: move
        the wake time earlier in memory; the look itself (a query) waits until then."""
        if at is not None and (self._wake_at is None or at < self._wake_at):
            self._wake_at = at
            self.wake.set()  # re-arm the sleep on the earlier time

    def submit(self, claimed: list[NotificationAttempt], *, storm: bool = False) -> None:
        """Send these committed, already claimed attempts as slots and the send rate allow.

        `storm`: more alarms wait to be stored. Until a batch says otherwise, the outbox claim
        takes only P1/P2 rows: a P1 about to be stored must not wait behind P3s claimed now.
        """
        released = self._urgent_only and not storm
        self._urgent_only = storm
        self._look = self._look or released  # the P3s held back meanwhile may be claimed now
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
        await self._line.start()
        relay = asyncio.create_task(self._relay(stop))
        renewer = asyncio.create_task(self._renew_leases(stop))
        delay = 0.1
        try:
            while not stop.is_set():
                self.wake.clear()
                now = self._clock.now()
                look = self._look or self._waiting or self._hang_ups_due \
                    or (self._wake_at is not None and now >= self._wake_at)
                self._look = False
                try:
                    if not look:  # woken for a hand-over or an earlier wake time: no query
                        busy = await self._send_due(now, claim=False)
                    else:
                        busy = await self.cycle(now)
                    full = len(self._inflight) >= self.concurrency
                    if look and not busy and not full:
                        # A note still ahead is kept (a send of ours is left out of the query until
                        # its slot frees); a note made while the query runs may be newer than what
                        # it read, so it lands in _wake_at meanwhile and is kept too.
                        ahead = self._wake_at if self._wake_at is not None and self._wake_at > now \
                            else None
                        self._wake_at = None
                        found = _earlier(await self.next_wake(), ahead)
                        self._wake_at = _earlier(found, self._wake_at)
                    delay = 0.1
                except (SQLAlchemyError, OSError) as exc:
                    self._look = True
                    log.error("dispatcher: database error, retrying: %s", exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    delay = min(delay * 2, 5.0)
                    continue
                if full:
                    await self.wake.wait()  # a finished request frees a slot and pokes
                elif not busy:
                    await self._clock.wait(self._wake_at, self.wake)
        finally:
            # awaited, not only cancelled: a renewal or hang-up cut short mid-query must hand its
            # connection back before the pool is disposed (a leaked one hangs the loop's close)
            side = [t for t in (relay, renewer, self._hanging_up) if t is not None]
            for task in side:
                task.cancel()  # a hang-up left undone: rows say what is left, the next start does it
            await asyncio.gather(*side, return_exceptions=True)
            await self._finish_in_flight()
            await self._release_held()
            await self.sender.close()
            await self._line.close()

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
            await queue.release(self._sessions, ids)
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
            await self._clock.wait(self._clock.now() + every, stop)
            ids = self._ours()
            if not ids:
                continue
            try:
                await queue.renew(self._sessions, ids,
                                  until=self._clock.now() + self.lease)
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
            await queue.recover(self._sessions, now=now, ours=self._ours())
            await self._chase_stuck(now)
        elif self._hang_ups_due:
            self._hang_up_closed(now)
        return more

    async def _hang_up(self, now: datetime) -> None:
        # A failed try's retry time was written beside the loop, perhaps after its last query.
        self.note_due(await hang_up_closed(self._sessions, self._metrics, self.sender, now=now))

    def _hang_up_closed(self, now: datetime) -> None:
        """End live calls about closed alerts in a task of its own: a slow Twilio (two requests
        per call, each up to the timeout) must not hold up the sends of other alarms."""
        self._hang_ups_due = False
        if self._hanging_up is not None and not self._hanging_up.done():
            return  # the next housekeeping looks again
        self._hanging_up = asyncio.create_task(self._hang_up(now), name="hang-ups")
        self._hanging_up.add_done_callback(_log_failure)

    async def _send_due(self, now: datetime, *, claim: bool = True) -> bool:
        """Start handed-over attempts, then (with `claim`) claim due rows, for the free slots.
        True if more may wait."""
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
        if not claim:
            self.bucket.give_back(tokens)
            return False
        batch, looked_at = (await queue.claim_due(
            self._sessions, now=now, limit=tokens, urgent_only=self._urgent_only,
            lock_rows=self._lock_rows, settings=self.settings) if tokens else ([], 0))
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
        still = await queue.still_sending(self._sessions, asked)
        for attempt_id in asked:
            if attempt_id not in still:
                self._held.pop(attempt_id, None)
        self._order = [entry for entry in self._order if entry[2] in self._held]
        heapq.heapify(self._order)

    def _start(self, attempt: NotificationAttempt) -> None:
        """Run one claimed attempt's request; its slot frees (and pokes) when it is recorded."""
        assert attempt.id is not None
        attempt_id = attempt.id
        if attempt.channel == NotifyChannel.LINE.value:
            self.bucket.give_back(1)  # LINE has its own rate (LineSender): not Twilio's to spend
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
                self._look = True
                self.wake.set()

        task.add_done_callback(done)

    async def _send(self, attempt: NotificationAttempt) -> None:
        # The row now has a deadline (or a retry time) the sleeping loop did not know about.
        self.note_due((await self._delivery.deliver(attempt)).look_at)

    async def _chase_stuck(self, now: datetime) -> None:
        """Attempts whose final callback never came: ask Twilio, else count them as not reached."""
        await chase(self._sessions, self._bus, self._metrics, self.sender, now=now)

    async def next_wake(self) -> datetime | None:
        """The next time the outbox needs a look: a deferred send, a lease or a deadline."""
        return await queue.next_wake(self._sessions, now=self._clock.now(),
                                     ours=self._ours(), urgent_only=self._urgent_only,
                                     housekeeping_at=self._housekeeping_at)


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two wake times, None meaning "none known"."""
    if a is None or b is None:
        return a or b
    return min(a, b)
