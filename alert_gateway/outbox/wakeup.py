"""When the dispatcher next asks the database: at once (at start, poked, rows left waiting for a
slot) or at a known time, the database's earliest at the last look, lowered in memory since.

Sends handed over in memory and results the dispatcher recorded itself need no query: a recorded
retry time or deadline only moves the wake time earlier (at 10 alarms/s each of those wakes cost
a claim and two next-wake queries). Rows queued due now (a sweep's or a check's calls) need a
claim but no next-wake queries: they move no later time earlier, and a claim that defers a row
says when (a sweep call cost a claim and two next-wake queries, issue 15).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum

from ..clock import Clock


class Look(Enum):
    """What a cycle asks the database."""

    NONE = 0  # only sends handed over or an earlier wake time woke it: no query
    CLAIM = 1  # rows were queued due now: claim them, the wake time stays
    FULL = 2  # claim, housekeeping when due, then the next wake time


class WakeUp:
    """The dispatcher's look/sleep decision; `event` re-arms its sleep."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.look = True  # the outbox may hold due rows not looked for yet (start, a poke)
        self.waiting = False  # the last claim filled every free slot: more rows may be due
        self.queued = False  # rows were queued due now: a claim, not a new wake time, is needed
        # the next look: the database's earliest time at the last look, lowered by what was
        # learnt since in memory (None: nothing known, sleep until poked)
        self.at: datetime | None = None

    def poke(self) -> None:
        """Look at the outbox now."""
        self.look = True
        self.event.set()

    def queued_now(self) -> None:
        """Rows due now were queued: claim them (no next-wake queries)."""
        self.queued = True
        self.event.set()

    def note_due(self, at: datetime | None) -> None:
        """Rows were queued (or a row got a retry time or deadline) that need a look at `at`: move
        the wake time earlier in memory; the look itself (a query) waits until then."""
        if at is not None and (self.at is None or at < self.at):
            self.at = at
            self.event.set()  # re-arm the sleep on the earlier time

    def begin(self, now: datetime, *, forced: bool) -> Look:
        """Start a cycle: what it asks the database."""
        self.event.clear()
        look = self.look or self.waiting or forced or (self.at is not None and now >= self.at)
        queued, self.look, self.queued = self.queued, False, False
        return Look.FULL if look else Look.CLAIM if queued else Look.NONE

    async def relearn(self, now: datetime,
                      next_wake: Callable[[], Awaitable[datetime | None]]) -> None:
        """After a look that left nothing waiting: the wake time is the database's next one."""
        # A note still ahead is kept (a send of ours is left out of the query until its slot
        # frees); a note made while the query runs may be newer than what it read, so it lands
        # in `at` meanwhile and is kept too.
        ahead = self.at if self.at is not None and self.at > now else None
        self.at = None
        found = _earlier(await next_wake(), ahead)
        self.at = _earlier(found, self.at)

    async def sleep(self, clock: Clock) -> None:
        """Until the wake time (on the injected clock) or a poke."""
        await clock.wait(self.at, self.event)


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two wake times, None meaning "none known"."""
    if a is None or b is None:
        return a or b
    return min(a, b)
