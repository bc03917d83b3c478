"""A token bucket for the account-wide Twilio send rate (real time: it paces real requests)."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """`rate` tokens a second, up to `burst` saved; `take()` waits for one."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._at = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def available(self) -> int:
        """Whole tokens available now."""
        self._refill()
        return int(self._tokens)

    def take_now(self, wanted: int) -> int:
        """Take up to `wanted` whole tokens without waiting; returns how many were taken."""
        self._refill()
        taken = max(0, min(wanted, int(self._tokens)))
        self._tokens -= taken
        return taken

    def give_back(self, count: int) -> None:
        """Return tokens taken with `take_now` that were not used."""
        self._tokens = min(self.burst, self._tokens + max(0, count))

    def delay(self) -> float:
        """Seconds until a whole token is free (0 when one is free now)."""
        self._refill()
        return max(0.0, (1 - self._tokens) / self.rate)

    async def take(self) -> None:
        """Wait until a token is free and take it; waiters are served in order."""
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1
