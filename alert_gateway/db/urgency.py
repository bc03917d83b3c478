"""Alarm-path work goes first: background writers hold back (bounded) while it is in progress.

A status callback or a send's result can wait a few hundred milliseconds; storing an alarm,
planning its escalation and claiming its first notification must not queue behind them. On SQLite
there is one connection, so every transaction waits for the one before it; on PostgreSQL they
share the event loop. Background batches therefore start only when no alarm-path work is running,
or after `MAX_DEFER` seconds, so they are never starved.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator

MAX_DEFER = 0.25  # seconds a background batch waits at most for the alarm path to go quiet


class Urgency:
    """Counts alarm-path sections in progress; `wait_quiet` is for work that can wait."""

    def __init__(self, ingest_idle: Callable[[], Awaitable[None]] | None = None, *,
                 max_defer: float = MAX_DEFER) -> None:
        self._max_defer = max_defer
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._ingest_idle = ingest_idle  # alarms read from the broker and not yet committed

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """Mark an alarm-path section (an escalation step, an outbox claim)."""
        self._active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active -= 1
            if not self._active:
                self._idle.set()

    async def wait_quiet(self, limit: float | None = None, *, unless: asyncio.Event | None = None) -> None:
        """Until no alarm-path work is in progress, `unless` is set, or `limit` seconds
        (default: `max_defer`)."""
        if unless is not None and unless.is_set():
            return
        waits: list[asyncio.Future[object]] = [asyncio.ensure_future(self._quiet())]
        if unless is not None:
            waits.append(asyncio.ensure_future(unless.wait()))
        try:
            await asyncio.wait(waits, timeout=self._max_defer if limit is None else limit,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def _quiet(self) -> None:
        while True:
            await self._idle.wait()
            if self._ingest_idle is not None:
                await self._ingest_idle()
            if self._idle.is_set():  # the ingest wait may have let a section start
                return
