"""The sweep runner: places the next calls while places are free, and reads their results.

Like the wellbeing scheduler, it sleeps until the earliest due entry on the injected clock, or
until poked (a sweep started or resumed, a key pressed, a call ended); every fact is a row, so a
restart carries on where the last process stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from ..db.engine import is_sqlite
from ..services import Services
from ..ticking import run_ticks
from ..unit_of_work import unit_of_work
from . import calls, views

log = logging.getLogger(__name__)
EXTRA = "sweep"  # Services.extras key of this process's runner
# The progress gauge is read at most this often: counting a 10,000-resident sweep on every look
# held SQLite's one connection a few ms per call placed, while a scrape comes every 15 s or so.
GAUGE_EVERY = timedelta(seconds=1)


class SweepRunner:
    """Runs the sweeps; `poke()` wakes it."""

    def __init__(self, services: Services, on_queued: Callable[[], None]) -> None:
        self.services = services
        self.on_queued = on_queued  # pokes the dispatcher when calls were queued
        self.wake = asyncio.Event()
        self._gauge_at: datetime | None = None  # the gauge's next refresh; None: at once
        self._gauge_behind = False  # a look came before the gauge's time: read it then
        self._lock_rows = not is_sqlite(services.settings.database_url)

    def poke(self) -> None:
        """Look now."""
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: tick, then sleep until the next due entry or a poke."""
        await run_ticks("sweep runner", self.services.clock, self.wake, stop, self.tick, self._next_wake)

    async def tick(self, now: datetime) -> bool:
        """Read results (freeing places), then fill the places; True if a batch was full.

        Each transaction first lets the alarms already received be stored and their
        first sends handed over: on SQLite they would otherwise queue behind it for the one
        connection, on PostgreSQL share the event loop with it. Only the alarms read before it
        are waited for, so a stream of alarms delays the sweep but never stops it."""
        s = self.services
        await s.ingest.progress.caught_up()
        async with unit_of_work(s.sessions, s.bus) as uow:
            uow.extend(await calls.look_at_results(uow.session, now=now, settings=s.settings,
                                                   metrics=s.metrics, lock_rows=self._lock_rows))
        await s.ingest.progress.caught_up()
        async with s.sessions() as session:
            placed = await calls.place_next(session, now=now, settings=s.settings,
                                            metrics=s.metrics, lock_rows=self._lock_rows)
            await session.commit()
        if placed:
            log.info("sweep calls queued", extra={"count": placed})
            self.on_queued()
        self._gauge_behind = self._gauge_at is not None and now < self._gauge_at
        if not self._gauge_behind:
            await s.ingest.progress.caught_up()
            async with s.sessions() as session:
                await views.refresh_gauge(session, s.metrics)
            self._gauge_at = now + GAUGE_EVERY
        return placed >= calls.BATCH

    async def _next_wake(self) -> datetime | None:
        async with self.services.sessions() as session:
            due = await calls.next_due(session)
        if due is not None and due.tzinfo is None:
            due = due.replace(tzinfo=self.services.clock.now().tzinfo)
        gauge = self._gauge_at if self._gauge_behind else None  # idle, nothing to wake for
        times = [t for t in (due, gauge) if t is not None]
        return min(times) if times else None


def sweeps_changed(services: Services) -> None:
    """A sweep started or resumed, a key was pressed or a call ended here: look now."""
    runner = services.extras.get(EXTRA)
    if isinstance(runner, SweepRunner):
        runner.poke()
