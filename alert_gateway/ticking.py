"""The loop of a durable background worker (wellbeing scheduler, sweep runner): run what is due,
then sleep until the next due time or a poke; a database error is retried with a backoff."""

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


async def run_ticks(name: str, clock: Clock, wake: asyncio.Event, stop: asyncio.Event,
                    tick: Callable[[datetime], Awaitable[bool]],
                    next_wake: Callable[[], Awaitable[datetime | None]]) -> None:
    """Until `stop`: `tick(now)` (True: a full batch, look again at once), then sleep until
    `next_wake()` or until `wake` is set."""
    async def relay() -> None:
        await stop.wait()
        wake.set()

    relaying = asyncio.create_task(relay())
    delay = 0.1
    try:
        while not stop.is_set():
            wake.clear()
            try:
                busy = await tick(clock.now())
                wake_at = None if busy else await next_wake()
                delay = 0.1
            except (SQLAlchemyError, OSError) as exc:
                log.error("%s: database error, retrying: %s", name, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, ERROR_BACKOFF_MAX)
                continue
            if not busy:
                await clock.wait(wake_at, wake)
    finally:
        relaying.cancel()
        await asyncio.gather(relaying, return_exceptions=True)
