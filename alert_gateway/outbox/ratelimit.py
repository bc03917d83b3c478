"""A token bucket for the account-wide Twilio send rate (real time: it paces real requests)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens a second, up to `burst` saved; `take()` waits for one."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self.monotonic: Callable[[], float] = time.monotonic  # a test may stop it: no refill
        self._tokens = self.burst
        self._at = self.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def available(self, keep: float = 0.0) -> int:
        """Whole tokens available now beyond `keep`."""
        self._refill()
        return max(0, int(self._tokens - keep))

    def take_now(self, wanted: int) -> int:
        """Take up to `wanted` whole tokens without waiting; returns how many were taken."""
        self._refill()
        taken = max(0, min(wanted, int(self._tokens)))
        self._tokens -= taken
        return taken

    def give_back(self, count: int) -> None:
        """Return tokens taken with `take_now` that were not used."""
        self._tokens = min(self.burst, self._tokens + max(0, count))

    def delay(self, until: float = 1.0) -> float:
        """Seconds until `until` tokens are saved (0 when they are now)."""
        self._refill()
        return max(0.0, (until - self._tokens) / self.rate)

    def spend(self, count: int) -> None:
        """Spend tokens counted out while others could take them: what is short is owed (the
        next sends wait for it), never refused."""
        self._refill()
        self._tokens -= count

    async def take(self) -> None:
        """Wait until a token is free and take it; waiters are served in order."""
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1
