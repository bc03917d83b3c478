"""Create requests that outlive our timeout: kept running, so a retry learns how they ended.

A create request with no answer within `twilio_timeout_seconds` may still be with Twilio, which
can take it seconds later (a storm; the fake does the same). Closing the connection at the timeout
does not stop Twilio, and a retry's lookup made meanwhile finds nothing and sends the text a
second time (tests/escalation/test_unanswered_sends.py). So the timed-out request runs on in a
task of its own until Twilio answers or `limit` seconds from its start have passed, kept under its
status callback URL (which names the attempt); the retry of that attempt awaits it first
(outbox/timeouts.py). Only a request still unanswered at `limit`, or one this process did not send
(a restart, another replica), is left to the lookup.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")
KEPT_FOR = 600.0  # seconds a timed-out request's answer is kept for its retry


class LateAnswers(Generic[T]):
    """Timed-out create requests by key, running until answered or `limit` seconds after start."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._kept: dict[str, asyncio.Task[T]] = {}

    async def run(self, key: str, request: Coroutine[Any, Any, T], *, answer_within: float) -> T:
        """Await `request` for `answer_within` seconds; then raise TimeoutError, keep it running."""
        task = asyncio.get_running_loop().create_task(request)
        try:
            async with asyncio.timeout(answer_within):
                return await asyncio.shield(task)
        except TimeoutError:
            self._keep(key, task, self.limit - answer_within)
            raise
        except asyncio.CancelledError:  # our caller stopped (a shutdown): so does the request
            task.cancel()
            raise

    def _keep(self, key: str, task: asyncio.Task[T], left: float) -> None:
        loop = asyncio.get_running_loop()
        self._kept[key] = task
        cut = loop.call_later(max(0.0, left), task.cancel)
        task.add_done_callback(lambda _: cut.cancel())
        task.add_done_callback(_retrieve)
        # its answer is kept for a retry that comes later; past that the lookup tells as well
        loop.call_later(KEPT_FOR, self._forget, key, task)

    def _forget(self, key: str, task: asyncio.Task[T]) -> None:
        if self._kept.get(key) is task:
            del self._kept[key]

    async def outcome(self, key: str) -> T | BaseException | None:
        """How the timed-out request kept under `key` ended: its result or exception, awaited while
        it runs (at most until its limit); None if there is none, or if it was cut off at its limit."""
        task = self._kept.pop(key, None)
        if task is None:
            return None
        await asyncio.wait({task})  # neither raises its exception nor cancels it if we are
        if task.cancelled():
            return None
        return task.exception() or task.result()

    async def close(self) -> None:
        """Cancel the requests still running (a shutdown) and wait until they have ended."""
        tasks = list(self._kept.values())
        self._kept.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark an exception as seen: an unanswered request's failure is the retry's to judge."""
    if not task.cancelled():
        task.exception()
