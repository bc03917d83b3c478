"""The outbox dispatcher: sends attempts by priority then age, under the account send rate.

Attempts reach it two ways, both already SENDING under a lease (committed): intake hands over the
first sends of a stored alarm in memory (`submit`), and the dispatcher claims PENDING rows itself.
At most `send_concurrency` requests are in flight (slots.py). A crash leaves claimed rows whose
lease expires and puts them back in the outbox, so lease recovery sends what was claimed and not
recorded. A live process renews the leases of everything it holds (submitted and not started yet,
or in flight) on the injected clock, and never takes its own back.

It asks the database (claim, housekeeping, next wake time) only when the outbox may hold rows it
has not looked for: at start, when poked (a change here or on another replica), when a slot frees
while rows wait, and when its wake time comes (wakeup.py). Rows queued due now (`queued_now`: a
sweep's or a check's calls) are claimed, with no housekeeping or next-wake queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from ..bus import AlertBus
from ..clock import Clock
from ..db.engine import SessionFactory, autocommit_sessions, is_sqlite
from ..db.groupcommit import GroupCommit
from ..db.models import NotificationAttempt
from ..line.client import LineSender
from ..metrics import Metrics
from ..settings import Settings
from ..twilio.client import TwilioSender
from . import queue
from .backlog import Backlog
from .claiming import lease_of
from .delivery import Delivery
from .hangup import hang_up_closed
from .ratelimit import TokenBucket
from .slots import SendSlots
from .stuck import chase
from .wakeup import Look, WakeUp

log = logging.getLogger(__name__)
HOUSEKEEPING_EVERY = timedelta(seconds=1)  # lease recovery and stuck-attempt chasing, at most
ALARM_RESERVE_SECONDS = 0.2


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("dispatcher: hanging up calls about closed alerts failed; housekeeping retries",
                  exc_info=task.exception())


def alarm_reserve(bucket: TokenBucket) -> float:
    """Tokens sends less urgent than a P1's or P2's (a sweep's or a check's calls, a P3's)
    leave saved, a fifth of a second's worth (at least two, less than the burst): an urgent
    alarm's first sends never wait for the account rate behind them. A sweep spends the whole
    rate, and its alarms waited 10-20 ms for each token."""
    return max(0.0, min(max(2.0, bucket.rate * ALARM_RESERVE_SECONDS), bucket.burst - 1))


class Dispatcher:
    """Hands outbox rows to Twilio; `poke()` wakes it when the outbox grew."""

    def __init__(self, settings: Settings, clock: Clock, sessions: SessionFactory, bus: AlertBus,
                 metrics: Metrics, sender: TwilioSender, line: LineSender) -> None:
        self.settings = settings
        self._clock = clock
        self._sessions = sessions
        # the next-wake look only reads: on PostgreSQL without BEGIN and ROLLBACK round trips
        self._reads = autocommit_sessions(sessions) or sessions
        self._bus = bus
        self._metrics = metrics
        self.sender = sender
        self._line = line  # started and closed with the dispatcher
        self.bucket = TokenBucket(self.settings.send_rate_per_second)
        self._alarm_tokens = alarm_reserve(self.bucket)
        self.lease = lease_of(self.settings)
        self._wakeup = WakeUp()
        # Send results get a group commit of their own: a slot frees only once its result is
        # written, and behind the status callbacks' queue (4-6 per send) that took 4-40 s in a
        # storm on a busy machine, holding all slots: sends fell to 10-100/s.
        self.results = GroupCommit(sessions)
        self.delivery = Delivery(settings, clock, sessions, bus, metrics, self.results, sender,
                                 line)
        self._slots = SendSlots(self.settings.send_concurrency, sessions, self.delivery,
                                self.bucket, self._wakeup)
        self._backlog = Backlog.NONE  # what waits to be stored holds back which sends
        self._housekeeping_at: datetime | None = None
        self._hang_ups_due = False  # poked about a close: look for calls to hang up this cycle
        self._hanging_up: asyncio.Task[None] | None = None  # beside the sends, never in their way
        self._hang_up_again = False  # a look asked for while one ran: made when that one ends
        self._lock_rows = not is_sqlite(self.settings.database_url)
        self.first_sends_out: Callable[[], None] = lambda: None  # the engine's poke (wiring)
        self._told_waiting = False
        self._reserve_reached = False  # the last claim left less urgent rows for want of a place
        self._rate_reserved = False  # ... and the place they lacked was the alarms' tokens

    @property
    def first_sends_waiting(self) -> bool:
        """A storm is being stored, or handed-over first sends wait for a slot or the rate."""
        return self._storm or self._slots.held(firsts_only=True)

    @property
    def _storm(self) -> bool:
        return self._backlog is Backlog.STORM

    def _tell_when_first_sends_out(self) -> None:
        """Poke whoever yields to first sends (the engine) once none wait any more."""
        waiting = self.first_sends_waiting
        if self._told_waiting and not waiting:
            self.first_sends_out()
        self._told_waiting = waiting

    def poke(self, *, closed: bool = False) -> None:
        """Look at the outbox now; `closed`: an alert may have closed, so end its live calls now
        rather than at the next housekeeping."""
        self._hang_ups_due = self._hang_ups_due or closed
        if closed:
            self._slots.note_closed()
        self._wakeup.poke()

    def queued_now(self) -> None:
        """Rows due now were queued (a sweep's or a check's calls): claim them, no other look."""
        self._wakeup.queued_now()

    def note_due(self, at: datetime | None) -> None:
        """Rows were queued (or a row got a retry time or deadline) that need a look at `at`: move
        the wake time earlier in memory; the look itself (a query) waits until then."""
        self._wakeup.note_due(at)

    def submit(self, claimed: list[NotificationAttempt], *,
               backlog: Backlog = Backlog.NONE) -> None:
        """Send these committed, already claimed attempts as slots and the send rate allow.

        `backlog`: what waits to be stored. Until a batch says otherwise, while alarms wait only
        P1/P2 rows are sent (a P1 about to be stored must not wait behind P3s claimed now), and
        in a storm only each person's first channel (nor behind texts to people already called).
        """
        released = backlog < self._backlog
        self._backlog = backlog
        self._slots.storing = self._storm
        self._wakeup.look = self._wakeup.look or released  # the rows held back may be claimed now
        self._slots.hold(claimed)
        # Started here, not by the loop: the loop may be in a query, which on SQLite waits for
        # the one connection behind the sweep's and callbacks' transactions (up to 0.6 s at load)
        self.bucket.give_back(self._slots.start_live(self.bucket.take_now(self._slots.free),
                                                     firsts_only=self._storm))
        self._tell_when_first_sends_out()
        if claimed or released:
            self._wakeup.event.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: send what is due, then sleep until the next not_before/deadline or a poke."""
        await self.sender.start()
        await self._line.start()
        relay = asyncio.create_task(self._relay(stop))
        renewer = asyncio.create_task(self._renew_leases(stop))
        delay = 0.1
        try:
            while not stop.is_set():
                now = self._clock.now()
                look = self._wakeup.begin(now, forced=self._hang_ups_due)
                try:
                    if look is Look.FULL:
                        busy = await self.cycle(now)
                    else:  # woken for a hand-over, an earlier wake time or rows due now
                        busy = await self._send_due(now, claim=look is Look.CLAIM)
                    # rows wait for a slot outside the alarms' reserve: a finished send pokes
                    full = self._slots.full or self._reserve_reached
                    if look is Look.FULL and not busy and not full:
                        await self._wakeup.relearn(now, self.next_wake)
                    delay = 0.1
                except (SQLAlchemyError, OSError) as exc:
                    self._wakeup.look = True
                    log.error("dispatcher: database error, retrying: %s", exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    delay = min(delay * 2, 5.0)
                    continue
                if full:
                    await self._wait_for_room()
                elif not busy:
                    await self._wakeup.sleep(self._clock)
        finally:
            # awaited, not only cancelled: a renewal or hang-up cut short mid-query must hand its
            # connection back before the pool is disposed (a leaked one hangs the loop's close)
            side = [t for t in (relay, renewer, self._hanging_up) if t is not None]
            for task in side:
                task.cancel()  # a hang-up left undone: rows say what is left, the next start does it
            await asyncio.gather(*side, return_exceptions=True)
            await self._slots.finish_in_flight(self.settings.twilio_timeout_seconds + 5)
            await self._slots.release_held()
            await self.sender.close()
            await self._line.close()

    async def _wait_for_room(self) -> None:
        """Until a finished request frees a slot (it pokes) or, when the alarms' tokens were what
        less urgent rows lacked, until the rate has saved one more (no request may be in flight)."""
        refill = (self.bucket.delay(until=self._alarm_tokens + 1)
                  if self._rate_reserved and not self._slots.full else None)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(refill):
                await self._wakeup.event.wait()

    async def _renew_leases(self, stop: asyncio.Event) -> None:
        """Keep the leases of what this process holds from expiring, on the injected clock (a
        lease is measured on it: a test that moves the clock moves renewal with it)."""
        every = self.lease / 3
        while not stop.is_set():
            await self._clock.wait(self._clock.now() + every, stop)
            ids = self._slots.ours()
            if not ids:
                continue
            try:
                await queue.renew(self._sessions, ids,
                                  until=self._clock.now() + self.lease)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("dispatcher: could not renew send leases: %s", exc)

    async def _relay(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wakeup.event.set()

    async def cycle(self, now: datetime) -> bool:
        """Recover expired leases, start sends in the free slots, chase stuck ones. True if more may wait."""
        more = await self._send_due(now)
        if self._housekeeping_at is None or now >= self._housekeeping_at:
            # after the sends, every second at most: on SQLite even an UPDATE that matches nothing
            # takes the write lock
            self._housekeeping_at = now + HOUSEKEEPING_EVERY
            self._hang_up_closed(now)
            await queue.recover(self._sessions, now=now, ours=self._slots.ours())
            await self._chase_stuck(now)
        elif self._hang_ups_due:
            self._hang_up_closed(now)
        return more

    async def _hang_up(self, now: datetime) -> None:
        while True:
            self._hang_up_again = False
            # A failed try's retry time was written beside the loop, perhaps after its last query.
            self.note_due(await hang_up_closed(self._sessions, self._metrics, self.sender, now=now))
            if not self._hang_up_again:
                return
            now = self._clock.now()

    def _hang_up_closed(self, now: datetime) -> None:
        """End live calls about closed alerts in a task of its own: a slow Twilio (two requests
        per call, each up to the timeout) must not hold up the sends of other alarms.

        A look asked for while one runs is made as soon as that one ends: left to the next
        housekeeping, a call due now rang a second longer (and for ever on a fake clock, which
        never reaches the next housekeeping second unless a test moves it)."""
        self._hang_ups_due = False
        if self._hanging_up is not None and not self._hanging_up.done():
            self._hang_up_again = True
            return
        self._hanging_up = asyncio.create_task(self._hang_up(now), name="hang-ups")
        self._hanging_up.add_done_callback(_log_failure)

    async def _send_due(self, now: datetime, *, claim: bool = True) -> bool:
        """Start handed-over attempts, then (with `claim`) claim due rows, for the free slots.
        True if more may wait."""
        self._reserve_reached = self._rate_reserved = False
        free = self._slots.free
        if free <= 0:
            return False
        tokens = self.bucket.take_now(free)
        if tokens == 0:  # the account rate is spent: wait for the next token (real time)
            await asyncio.sleep(self.bucket.delay())
            tokens = self.bucket.take_now(free)
        tokens = await self._slots.start_held(tokens, firsts_only=self._storm)
        self._tell_when_first_sends_out()
        if self._slots.held(firsts_only=self._storm):  # the rate or the slots ran out first
            self._wakeup.waiting = True
            return True
        if not claim:
            self.bucket.give_back(tokens)
            return False
        if not tokens:  # the handed-over sends took them all: due rows may wait for the next
            self._wakeup.waiting = True
            return True
        # Back in the bucket while the claim runs: an alarm handed over meanwhile takes them.
        # Less urgent rows may only have what is beyond the alarms' reserve.
        self.bucket.give_back(tokens)
        background_free = self._slots.background_free
        background = min(background_free, self.bucket.available(keep=self._alarm_tokens))
        batch, looked_at, self._reserve_reached = await queue.claim_due(
            self._sessions, now=now, limit=tokens, backlog=self._backlog,
            lock_rows=self._lock_rows, settings=self.settings, background=background)
        self._rate_reserved = self._reserve_reached and background < background_free
        self.bucket.spend(len(batch))
        if len(batch) < looked_at:  # over a contact's cap: deferred by the claim (claiming.py)
            self.note_due(now + timedelta(seconds=self.settings.contact_cap_window_seconds))
        for attempt in batch:
            self._slots.start(attempt)
        self._wakeup.waiting = looked_at == tokens or self._reserve_reached
        return self._wakeup.waiting

    async def _chase_stuck(self, now: datetime) -> None:
        """Attempts whose final callback never came: ask Twilio, else count them as not reached."""
        await chase(self._sessions, self._bus, self._metrics, self.sender, now=now)

    async def next_wake(self) -> datetime | None:
        """The next time the outbox needs a look: a deferred send, a lease or a deadline."""
        return await queue.next_wake(self._reads, now=self._clock.now(),
                                     ours=self._slots.ours(), backlog=self._backlog,
                                     housekeeping_at=self._housekeeping_at)
