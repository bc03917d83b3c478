"""The wellbeing scheduler: plans windows, queues due calls, reads their results.

Like the escalation engine, it sleeps until the earliest due row (or the next planning) on the
injected clock; every fact is a row, so a restart carries on where the last process stopped.
Its calls go through the outbox below every alarm, under the account's send rate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from ..bus import AlertBus
from ..clock import Clock
from ..db.engine import SessionFactory, is_sqlite
from ..metrics import Metrics
from ..settings import Settings
from ..ticking import run_ticks
from ..unit_of_work import unit_of_work
from . import calls, windows

log = logging.getLogger(__name__)
PLAN_EVERY = timedelta(minutes=5)  # a schedule edited on another replica is planned within this


class WellbeingScheduler:
    """Runs the wellbeing windows; `poke()` wakes it."""

    def __init__(self, settings: Settings, clock: Clock, sessions: SessionFactory, bus: AlertBus,
                 metrics: Metrics, on_queued: Callable[[], None]) -> None:
        self._settings = settings
        self._clock = clock
        self._sessions = sessions
        self._bus = bus
        self._metrics = metrics
        self.on_queued = on_queued  # pokes the dispatcher when calls were queued
        self.wake = asyncio.Event()
        self._plan_at: datetime | None = None  # None: plan at the next tick
        self._lock_rows = not is_sqlite(settings.database_url)

    def poke(self) -> None:
        """Plan and look now (a schedule changed)."""
        self._plan_at = None
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: tick, then sleep until the next due row, planning time or poke."""
        await run_ticks("wellbeing scheduler", self._clock, self.wake, stop, self.tick,
                        self._next_wake)

    async def tick(self, now: datetime) -> bool:
        """Plan if it is time, queue due calls, read due results; True if a batch was full."""
        if self._plan_at is None or now >= self._plan_at:
            added = await windows.plan(self._sessions, now=now, settings=self._settings,
                                       metrics=self._metrics)
            self._plan_at = now + PLAN_EVERY
            if added:
                log.info("wellbeing windows planned", extra={"count": added})
        async with self._sessions() as session:
            placed = await calls.place_due(session, now=now, settings=self._settings,
                                           metrics=self._metrics, lock_rows=self._lock_rows)
            await session.commit()
        if placed:
            log.info("wellbeing calls queued", extra={"count": placed})
            self.on_queued()
        async with unit_of_work(self._sessions, self._bus) as uow:
            uow.extend(await calls.look_at_results(uow.session, now=now, settings=self._settings,
                                                   metrics=self._metrics, lock_rows=self._lock_rows))
        return placed >= calls.BATCH

    async def _next_wake(self) -> datetime | None:
        async with self._sessions() as session:
            due = await calls.next_due(session)
        if due is not None and due.tzinfo is None:
            due = due.replace(tzinfo=self._clock.now().tzinfo)
        times = [t for t in (due, self._plan_at) if t is not None]
        return min(times) if times else None

