"""The loop of a durable background worker (wellbeing scheduler, sweep runner): run what is due,
then sleep until the next due time or a poke; a database error is retried with a backoff.

After each tick the worker rests as long as the tick took (at most `REST_MAX`): its share of the
database stays under half, so alarms (on SQLite: queued for its one connection) find it free,
and the pokes that come meanwhile (a sweep's calls ending) are served by one look, not one each.
Idle or quiet, a tick takes milliseconds and so does the rest; under load both grow together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from .clock import Clock

log = logging.getLogger(__name__)
ERROR_BACKOFF_MAX = 5.0
REST_MAX = 0.5  # seconds: bounds how long a poke waits for the look it asks for


async def run_ticks(name: str, clock: Clock, wake: asyncio.Event, stop: asyncio.Event,
                    tick: Callable[[datetime], Awaitable[bool]],
                    next_wake: Callable[[], Awaitable[datetime | None]]) -> None:
    """Until `stop`: `tick(now)` (True: a full batch, look again at once), then sleep until
    `next_wake()` or until `wake` is set."""
    async def relay() -> None:
        await stop.wait()
        wake.set()

    relaying = asyncio.create_task(relay())
    loop = asyncio.get_running_loop()
    delay = 0.1
    try:
        while not stop.is_set():
            wake.clear()
            started = loop.time()
            try:
                busy = await tick(clock.now())
                # poked meanwhile: the next tick comes at once, whatever is due
                wake_at = None if busy or wake.is_set() else await next_wake()
                delay = 0.1
            except (SQLAlchemyError, OSError) as exc:
                log.error("%s: database error, retrying: %s", name, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, ERROR_BACKOFF_MAX)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(loop.time() - started, REST_MAX))
            if not busy:
                await clock.wait(wake_at, wake)
    finally:
        relaying.cancel()
        await asyncio.gather(relaying, return_exceptions=True)
