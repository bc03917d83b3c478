"""How far the ingest writer has come: background work waits for the alarms already received.

A ticket is the count of messages read when the waiter asks; the wait ends once that many are
stored (their first sends claimed and handed over). Messages read later never lengthen it, so
alarms go first without a stream of them ever stopping the waiter.
"""

from __future__ import annotations

import asyncio


class StoredProgress:
    """Counts messages read and stored by the ingest writer; `caught_up()` awaits a ticket."""

    def __init__(self) -> None:
        self._read = 0
        self._stored = 0
        self._writing = True
        self._changed = asyncio.Condition()

    def read(self) -> None:
        """One more message queued for the writer."""
        self._read += 1

    async def stored(self, count: int) -> None:
        """The writer committed (or gave up on) `count` more, after handing their sends over."""
        self._stored += count
        async with self._changed:
            self._changed.notify_all()

    async def stopped(self) -> None:
        """The writer stopped: nobody waits for what is left (the shutdown drains it)."""
        self._writing = False
        async with self._changed:
            self._changed.notify_all()

    async def caught_up(self) -> None:
        """Until the messages read before this call are stored, or the writer stopped."""
        ticket = self._read

        def done() -> bool:
            return self._stored >= ticket or not self._writing

        if not done():
            async with self._changed:
                await self._changed.wait_for(done)
