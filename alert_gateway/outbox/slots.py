"""The dispatcher's send slots: attempts handed over and waiting for one (most urgent, each
person's first channel about an alert before any further one, then oldest), and the requests
running in them. Every attempt here is SENDING under our lease."""

from __future__ import annotations

import asyncio
import heapq
import logging
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from ..db.engine import SessionFactory
from ..db.models import NotificationAttempt, NotifyChannel
from . import queue
from .claiming import URGENT_RANK
from .delivery import Delivery
from .ratelimit import TokenBucket
from .wakeup import WakeUp

log = logging.getLogger(__name__)

# Requests in flight while alarms already read wait to be stored (a storm). Each request, its
# result and its callbacks take the loop from the storing, and a send costs the gateway less
# once nothing else runs beside it: with all 256 slots a storm of 10,000 was stored in 6–7 s
# on PostgreSQL; with fewer its P1s are still all called sooner, the bulk after the storing.
WHILE_STORING = 16


class SendSlots:
    """At most `concurrency` requests in flight (WHILE_STORING while a storm is stored), of
    which a quarter only for alarms' sends; a finished one frees its slot (and pokes)."""

    def __init__(self, concurrency: int, sessions: SessionFactory, delivery: Delivery,
                 bucket: TokenBucket, wakeup: WakeUp) -> None:
        self.concurrency = concurrency
        # A sweep places 10 calls and 10 texts at once, and a slot frees only once its result
        # is written: on SQLite behind the sweep's callbacks. Without a reserve an alarm's first
        # send then waited for one of them (6 % of alarms during a sweep, 0.4 s at load 8).
        self._background_cap = concurrency - concurrency // 4
        self._background: set[int] = set()  # in flight, less urgent than alarms' sends
        self._sessions = sessions
        self._delivery = delivery
        self._bucket = bucket
        self._wakeup = wakeup
        self._inflight: dict[int, asyncio.Task[None]] = {}
        # claimed elsewhere (intake) and handed over, not started yet, in two queues (most
        # urgent, then oldest): the first send to each person about an alert, and the others
        self._held: dict[int, NotificationAttempt] = {}
        self._firsts: list[tuple[int, datetime, int]] = []
        self._further: list[tuple[int, datetime, int]] = []
        self._held_may_be_void = False  # an alert closed since sends were handed over: check them
        self.storing = False  # alarms already read wait to be stored: WHILE_STORING slots only

    @property
    def _limit(self) -> int:
        return min(self.concurrency, WHILE_STORING) if self.storing else self.concurrency

    @property
    def free(self) -> int:
        """Slots no request runs in."""
        return max(0, self._limit - len(self._inflight))

    @property
    def background_free(self) -> int:
        """Slots a send less urgent than an alarm's may still take."""
        return min(self.free, self._background_cap - len(self._background))

    @property
    def full(self) -> bool:
        """Every slot runs a request."""
        return len(self._inflight) >= self._limit

    def held(self, *, firsts_only: bool = False) -> bool:
        """Handed-over sends still wait for a slot (or for the send rate); `firsts_only`: a
        person's first channel about an alert among them."""
        return bool(self._firsts) or (not firsts_only and bool(self._further))

    def ours(self) -> list[int]:
        """Attempts this process holds a lease on: renewed here, never recovered from ourselves."""
        return [*self._inflight, *self._held]

    def hold(self, claimed: list[NotificationAttempt]) -> None:
        """Keep these committed, already claimed attempts until a slot and a token are free."""
        people = {(a.alert_id, a.to_number) for a in claimed}
        for attempt in claimed:  # in plan order: a person's first channel first
            assert attempt.id is not None
            person = (attempt.alert_id, attempt.to_number)
            further = attempt.alert_id is not None and person not in people
            people.discard(person)
            self._held[attempt.id] = attempt
            heapq.heappush(self._further if further else self._firsts,
                           (attempt.priority, attempt.created_at, attempt.id))

    def note_closed(self) -> None:
        """An alert may have closed: check the held sends before starting them."""
        self._held_may_be_void = self._held_may_be_void or bool(self._held)

    async def start_held(self, tokens: int, *, firsts_only: bool = False) -> int:
        """Start handed-over sends, most urgent first, one token each; returns the tokens left.
        `firsts_only` (a storm is being stored): further channels wait."""
        if self._held_may_be_void:
            await self._drop_voided_held()
        return self.start_live(tokens, firsts_only=firsts_only)

    def start_live(self, tokens: int, *, firsts_only: bool = False) -> int:
        """`start_held` without a query: nothing is started (every token is left) while the held
        sends may include a closed alert's, which only `start_held` can drop."""
        if self._held_may_be_void:
            return tokens
        taken = self.take_held(tokens, firsts_only=firsts_only)
        for attempt in taken:  # claimed and committed already: no transaction needed
            self.start(attempt)
        return tokens - len(taken)

    def take_held(self, count: int, *, firsts_only: bool = False) -> list[NotificationAttempt]:
        """Up to `count` handed-over sends in the order they go, no longer held: most urgent
        first, and of the same urgency each person's first channel before any further one."""
        taken: list[NotificationAttempt] = []
        while len(taken) < count and self.held(firsts_only=firsts_only):
            further = not self._firsts or (
                not firsts_only and bool(self._further) and self._further[0][0] < self._firsts[0][0])
            taken.append(self._held.pop(heapq.heappop(self._further if further else self._firsts)[2]))
        return taken

    async def _drop_voided_held(self) -> None:
        """Forget handed-over sends whose alert closed meanwhile (the close voided their rows):
        one SELECT, only after a close, so the usual hand-over stays free of queries."""
        self._held_may_be_void = False
        asked = list(self._held)  # more may be handed over while we wait: those are not asked about
        still = await queue.still_sending(self._sessions, asked)
        for attempt_id in asked:
            if attempt_id not in still:
                self._held.pop(attempt_id, None)
        for queue_ in (self._firsts, self._further):
            queue_[:] = [entry for entry in queue_ if entry[2] in self._held]
            heapq.heapify(queue_)

    def start(self, attempt: NotificationAttempt) -> None:
        """Run one claimed attempt's request; its slot frees (and pokes) when it is recorded."""
        assert attempt.id is not None
        attempt_id = attempt.id
        if attempt.channel == NotifyChannel.LINE.value:
            self._bucket.give_back(1)  # LINE has its own rate (LineSender): not Twilio's to spend
        task = asyncio.create_task(self._send(attempt), name=f"send-{attempt_id}")
        self._inflight[attempt_id] = task
        if attempt.priority > URGENT_RANK:
            self._background.add(attempt_id)

        def done(t: asyncio.Task[None]) -> None:
            was_full = self.full
            self._inflight.pop(attempt_id, None)
            self._background.discard(attempt_id)
            failed = not t.cancelled() and t.exception() is not None
            if failed:
                log.error("dispatcher: send failed unrecorded; its lease will expire",
                          exc_info=t.exception(), extra={"attempt_id": attempt_id})
            # A freed slot matters only if rows wait for one; an unrecorded send leaves a lease
            # the sleeping loop did not count (it was ours): look again so it is recovered.
            if was_full or self._wakeup.waiting or failed:
                self._wakeup.poke()

        task.add_done_callback(done)

    async def _send(self, attempt: NotificationAttempt) -> None:
        # The row now has a deadline (or a retry time) the sleeping loop did not know about.
        self._wakeup.note_due((await self._delivery.deliver(attempt)).look_at)

    async def finish_in_flight(self, grace_seconds: float) -> None:
        """On a clean stop, let running requests end and record their result (bounded)."""
        tasks = list(self._inflight.values())
        if tasks:
            await asyncio.wait(tasks, timeout=grace_seconds)

    async def release_held(self) -> None:
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
        self._firsts.clear()
        self._further.clear()
