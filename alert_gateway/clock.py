"""Time as a parameter: domain code gets `now` from a Clock, tests advance a FakeClock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the gateway needs from time."""

    def now(self) -> datetime:
        """The current aware UTC time."""
        ...

    async def wait(self, deadline: datetime | None, wake: asyncio.Event) -> None:
        """Return when `wake` is set or `deadline` has passed, whichever is first."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        """The current aware UTC time."""
        return datetime.now(UTC)

    async def wait(self, deadline: datetime | None, wake: asyncio.Event) -> None:
        """Sleep until the deadline or until poked."""
        timeout = None if deadline is None else max(0.0, (deadline - self.now()).total_seconds())
        # Awaited in this task, not through `wait_for` (a task of its own on 3.11): a poke resumes
        # the sleeper in one pass of the event loop, not three, each behind the ready handlers.
        try:
            async with asyncio.timeout(timeout):
                await wake.wait()
        except TimeoutError:
            pass


class FakeClock:
    """A clock that moves only when a test calls `advance`; waiters wake when it passes their deadline."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 26, 18, 0, tzinfo=UTC)  # 03:00 in Japan
        self._ticks: set[asyncio.Event] = set()

    def now(self) -> datetime:
        """The fake current time."""
        return self._now

    @property
    def sleepers(self) -> int:
        """Waiters asleep right now, poked by nothing yet (tests: wait until a gateway is idle)."""
        return len(self._ticks)

    async def advance(self, seconds: float = 0.0, **kwargs: float) -> datetime:
        """Move time forward and wake every waiter so it can compare against its deadline."""
        self._now += timedelta(seconds=seconds, **kwargs)
        for tick in self._ticks:
            tick.set()
        await asyncio.sleep(0)  # let woken tasks look before the test goes on
        return self._now

    async def wait(self, deadline: datetime | None, wake: asyncio.Event) -> None:
        """Return when poked or when `advance` passes the deadline."""
        while not wake.is_set() and (deadline is None or self._now < deadline):
            tick = asyncio.Event()
            self._ticks.add(tick)
            waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(tick.wait())}
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._ticks.discard(tick)
                for waiter in waiters:
                    waiter.cancel()
