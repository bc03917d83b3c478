"""A per-client sliding-window request limit, in memory (a restart forgets it: it only slows
guessing and floods down, it holds no truth)."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta


class SlidingWindow:
    """At most `limit` requests per key within `window`; bounded memory however many keys."""

    def __init__(self, limit: int, window: timedelta, *, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._seen: dict[str, deque[datetime]] = {}

    def __len__(self) -> int:
        """How many clients are remembered."""
        return len(self._seen)

    def allow(self, key: str, now: datetime) -> bool:
        """Count one request of `key` at `now`; False when it is over the limit (not counted)."""
        times = self._seen.get(key)
        if times is None:
            if len(self._seen) >= self.max_keys:
                self._forget(now)
            times = self._seen[key] = deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True

    def _forget(self, now: datetime) -> None:
        """Drop quiet keys; if all are busy, the oldest half (a flood of addresses)."""
        quiet = [k for k, t in self._seen.items() if not t or t[-1] <= now - self.window]
        for key in quiet or list(self._seen)[: self.max_keys // 2]:
            del self._seen[key]
