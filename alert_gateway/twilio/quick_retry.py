"""Quick retries of a request Twilio certainly did not take, before the outbox's slow backoff.

An emergency text must not wait out the outbox's 2, 4, 8 s backoff for a blip (a 500, a 429, a
refused connection): the first delivery came 20 s late (issue 12). So a create request is retried
a few times, hundreds of milliseconds apart with jitter, bounded in count and in total time; then
the error goes back to the outbox, whose backoff takes over. Only failures where Twilio cannot
have created the resource are retried here: a timeout or a connection lost mid-request may have
gone out, and resending it blindly is what double-texted families (see outbox/timeouts.py).
Twilio: "An API Request that receives an error 429 response is never processed and is always safe
to retry" (twilio.com/docs/api/errors/20429); back off exponentially, with jitter.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


class NotTakenError(Exception):
    """Mixin for errors where Twilio did not take the request: safe to send again at once."""

    retry_after: float | None = None  # seconds, from Twilio's Retry-After header


@dataclass(frozen=True)
class QuickRetry:
    """How many quick retries, how far apart, and how long they may take in all."""

    retries: int = 3
    first_delay: float = 0.2  # seconds; doubled for each further retry, then jittered down by up to half
    max_retry_after: float = 1.0  # a longer Retry-After is left to the outbox's backoff
    budget: float = 2.0  # seconds from the first request to the last retry's start
    jitter: Callable[[], float] = field(default=random.random, compare=False)  # in [0, 1)

    def delay(self, retry: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry number `retry` (from 0), or None to stop retrying."""
        if retry >= self.retries or (retry_after is not None and retry_after > self.max_retry_after):
            return None
        # jitter spreads the retries of a burst of sends that all failed at once
        backoff = self.first_delay * 2**retry * (1 - self.jitter() / 2)
        return max(backoff, retry_after or 0.0)


async def retry_quickly(policy: QuickRetry, make: Callable[[], Awaitable[T]]) -> T:
    """Await `make()`, retrying it after a NotTakenError while `policy` allows; else re-raise."""
    started = time.monotonic()
    retry = 0
    while True:
        try:
            return await make()
        except NotTakenError as exc:
            wait = policy.delay(retry, exc.retry_after)
            if wait is None or time.monotonic() - started + wait > policy.budget:
                raise
        await asyncio.sleep(wait)
        retry += 1
