"""The sweep runner: places the next calls while places are free, and reads their results.

Like the wellbeing scheduler, it sleeps until the earliest due entry on the injected clock, or
until poked (a sweep started or resumed, a key pressed, a call ended or refused); with every place
taken, a retry due waits for such a poke or a result's look (calls.next_due). Every fact is a row,
so a restart carries on where the last process stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from ..bus import AlertBus
from ..clock import Clock
from ..db.engine import SessionFactory, is_sqlite
from ..ingest.progress import StoredProgress
from ..metrics import Metrics
from ..settings import Settings
from ..ticking import run_ticks
from ..unit_of_work import unit_of_work
from . import calls, views

log = logging.getLogger(__name__)
# The progress gauge is read at most this often: counting a 10,000-resident sweep on every look
# held SQLite's one connection a few ms per call placed, while a scrape comes every 15 s or so.
GAUGE_EVERY = timedelta(seconds=1)


class SweepRunner:
    """Runs the sweeps; `poke()` wakes it."""

    def __init__(self, settings: Settings, clock: Clock, sessions: SessionFactory, bus: AlertBus,
                 metrics: Metrics, stored: StoredProgress, on_queued: Callable[[], None]) -> None:
        self._settings = settings
        self._clock = clock
        self._sessions = sessions
        self._bus = bus
        self._metrics = metrics
        self._stored = stored  # the alarms read so far: each transaction goes after them
        self.on_queued = on_queued  # pokes the dispatcher when calls were queued
        self.wake = asyncio.Event()
        self._gauge_at: datetime | None = None  # the gauge's next refresh; None: at once
        self._gauge_behind = False  # a look came before the gauge's time: read it then
        self._lock_rows = not is_sqlite(settings.database_url)
        self._due: datetime | None = None  # the next entry's look, read by the last tick

    def poke(self) -> None:
        """Look now."""
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: tick, then sleep until the next due entry or a poke."""
        await run_ticks("sweep runner", self._clock, self.wake, stop, self.tick, self._next_wake)

    async def tick(self, now: datetime) -> bool:
        """Read results (freeing places), then fill the places; True if a batch was full.

        One transaction: a call that ends frees one place, about twenty a second in a large
        sweep, and three transactions (look, place, gauge) and a fourth for the next due time
        cost more than the work. It first lets the alarms already received be stored and their
        first sends handed over: on SQLite they would otherwise queue behind it for the one
        connection, on PostgreSQL share the event loop with it. Only the alarms read before it
        are waited for, so a stream of alarms delays the sweep but never stops it. The next due
        time is read in it too; later changes come with a poke, as they would while asleep."""
        gauge = self._gauge_at is None or now >= self._gauge_at
        await self._stored.caught_up()
        async with unit_of_work(self._sessions, self._bus) as uow:
            uow.extend(await calls.look_at_results(uow.session, now=now, settings=self._settings,
                                                   metrics=self._metrics, lock_rows=self._lock_rows))
            placed = await calls.place_next(uow.session, now=now, settings=self._settings,
                                            metrics=self._metrics, lock_rows=self._lock_rows)
            self._due = (None if placed.count >= calls.BATCH
                         else await calls.next_due(uow.session, full=placed.full))
            if gauge:
                await views.refresh_gauge(uow.session, self._metrics)
        if placed.count:
            log.info("sweep calls queued", extra={"count": placed.count})
            self.on_queued()
        self._gauge_behind = not gauge
        if gauge:
            self._gauge_at = now + GAUGE_EVERY
        return placed.count >= calls.BATCH

    async def _next_wake(self) -> datetime | None:
        due = self._due
        if due is not None and due.tzinfo is None:
            due = due.replace(tzinfo=self._clock.now().tzinfo)
        gauge = self._gauge_at if self._gauge_behind else None  # idle, nothing to wake for
        times = [t for t in (due, gauge) if t is not None]
        return min(times) if times else None
