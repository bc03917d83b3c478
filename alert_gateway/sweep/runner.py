"""The sweep runner: places the next calls while places are free, and reads their results.

Like the wellbeing scheduler, it sleeps until the earliest due entry on the injected clock, or
until poked (a sweep started or resumed, a key pressed, a call ended); every fact is a row, so a
restart carries on where the last process stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from ..db.engine import is_sqlite
from ..services import Services
from ..ticking import run_ticks
from ..unit_of_work import unit_of_work
from . import calls, views

log = logging.getLogger(__name__)
EXTRA = "sweep"  # Services.extras key of this process's runner


class SweepRunner:
    """Runs the sweeps; `poke()` wakes it."""

    def __init__(self, services: Services, on_queued: Callable[[], None]) -> None:
        self.services = services
        self.on_queued = on_queued  # pokes the dispatcher when calls were queued
        self.wake = asyncio.Event()
        self._lock_rows = not is_sqlite(services.settings.database_url)
        # no sweep call in flight and no sweep running, as of the last look: a call that ends
        # is then no sweep's, and waking for it (every call of an alarm storm) was wasted work
        self._idle = False

    def poke(self) -> None:
        """Look now."""
        self.wake.set()

    def call_ended(self) -> None:
        """A call ended or was answered: look now if it may have been a sweep's."""
        if not self._idle:
            self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: tick, then sleep until the next due entry or a poke."""
        await run_ticks("sweep runner", self.services.clock, self.wake, stop, self.tick, self._next_wake)

    async def tick(self, now: datetime) -> bool:
        """Read results (freeing places), then fill the places; True if a batch was full."""
        s = self.services
        self._idle = False  # until `_next_wake` finds nothing: calls placed now may end soon
        async with unit_of_work(s.sessions, s.bus) as uow:
            uow.extend(await calls.look_at_results(uow.session, now=now, settings=s.settings,
                                                   metrics=s.metrics, lock_rows=self._lock_rows))
        async with s.sessions() as session:
            placed = await calls.place_next(session, now=now, settings=s.settings,
                                            metrics=s.metrics, lock_rows=self._lock_rows)
            await session.commit()
            await views.refresh_gauge(session, s.metrics)
        if placed:
            log.info("sweep calls queued", extra={"count": placed})
            self.on_queued()
        return placed >= calls.BATCH

    async def _next_wake(self) -> datetime | None:
        async with self.services.sessions() as session:
            due = await calls.next_due(session)
        self._idle = due is None  # only a tick places calls, and a tick clears this first
        if due is not None and due.tzinfo is None:
            due = due.replace(tzinfo=self.services.clock.now().tzinfo)
        return due


def sweeps_changed(services: Services) -> None:
    """A sweep started, resumed or stopped here: look now."""
    runner = services.extras.get(EXTRA)
    if isinstance(runner, SweepRunner):
        runner.poke()


def call_ended(services: Services) -> None:
    """A call ended or a key was pressed: the sweep runner looks now if it has calls out."""
    runner = services.extras.get(EXTRA)
    if isinstance(runner, SweepRunner):
        runner.call_ended()
