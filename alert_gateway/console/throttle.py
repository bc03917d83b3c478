"""Failed sign-in throttling per account name and per client address (a sliding window)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class SignInThrottle:
    """Counts recent failures; kept in memory because a restart forgiving them is harmless."""

    per_account: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)
    _failures: dict[str, deque[datetime]] = field(default_factory=dict)

    def blocked(self, *, account: str, address: str, now: datetime) -> bool:
        """True while either the account or the address has too many recent failures."""
        return (
            self._count(f"account:{account.lower()}", now) >= self.per_account
            or self._count(f"address:{address}", now) >= self.per_address
        )

    def failed(self, *, account: str, address: str, now: datetime) -> None:
        """Record one failed sign-in."""
        for key in (f"account:{account.lower()}", f"address:{address}"):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, *, account: str) -> None:
        """A correct password clears the account's failures (the address keeps its count)."""
        self._failures.pop(f"account:{account.lower()}", None)

    def _count(self, key: str, now: datetime) -> int:
        stamps = self._failures.get(key)
        if not stamps:
            return 0
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if not stamps:
            del self._failures[key]  # bounded memory: idle keys go away
            return 0
        return len(stamps)
