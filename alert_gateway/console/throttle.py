"""Sign-in throttling rules: a delay that grows with failures, never a lock-out (pure, no I/O).

Three counters slow guessing down, each with its own exponential backoff and cap:

- the pair (account, client address): one attacker guessing one operator's password. Steep.
- the client address: one attacker trying many names. Capped at a minute, because a centre
  behind one NAT (or a proxy not listed in ALERT_GATEWAY_TRUSTED_PROXIES) shares an address.
- the account: guesses spread over many addresses. Capped at a few seconds, so that someone who
  knows an operator's name cannot keep them out: from their own address the operator waits at
  most that long, however many failures others caused (the name lock-out of issue 12).

An attempt is counted as a failure *before* its password is checked (`reserve`), and a correct
password gives the reservation back, so that concurrent guesses cannot all slip through while
the first ones are still being hashed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

MAX_FIELD = 64  # longer names cannot be accounts (accounts.py); addresses fit


class Scope(StrEnum):
    """What a counter counts failures of."""

    PAIR = "pair"
    ADDRESS = "address"
    ACCOUNT = "account"


@dataclass(frozen=True)
class Backoff:
    """`free` failures cost nothing; then the wait doubles from `first` up to `cap`."""

    free: int
    first: timedelta
    cap: timedelta

    def delay(self, failures: int) -> timedelta:
        """How long after the last failure the next attempt must wait."""
        if failures < self.free:
            return timedelta(0)
        doublings = min(failures - self.free, 32)  # the cap wins long before; keeps ints small
        return min(self.cap, self.first * 2**doublings)


@dataclass(frozen=True)
class ThrottlePolicy:
    """The backoff per scope and when a quiet counter is forgotten."""

    pair: Backoff = Backoff(free=3, first=timedelta(seconds=2), cap=timedelta(minutes=15))
    address: Backoff = Backoff(free=10, first=timedelta(seconds=1), cap=timedelta(minutes=1))
    account: Backoff = Backoff(free=5, first=timedelta(seconds=1), cap=timedelta(seconds=8))
    forget_after: timedelta = timedelta(minutes=15)

    def backoff(self, scope: Scope) -> Backoff:
        """The backoff of one scope."""
        return {Scope.PAIR: self.pair, Scope.ADDRESS: self.address,
                Scope.ACCOUNT: self.account}[scope]


@dataclass(frozen=True)
class Counter:
    """Failures counted under one key, as stored."""

    key: str
    scope: Scope
    failures: int
    last_failure_at: datetime


@dataclass(frozen=True)
class Wait:
    """A refused attempt: retry at `until`; `scope` is the counter that refused it."""

    until: datetime
    scope: Scope

    def seconds(self, now: datetime) -> int:
        """Whole seconds to wait, at least one."""
        return max(1, int(-(-(self.until - now).total_seconds() // 1)))


def keys_for(account: str, address: str) -> dict[str, tuple[Scope, str | None, str | None]]:
    """The counter keys of one attempt, sorted (rows are locked in this order: no deadlocks)."""
    name, where = account.lower()[:MAX_FIELD], address[:MAX_FIELD]
    keys = {
        f"{Scope.PAIR}:{name}|{where}": (Scope.PAIR, name, where),
        f"{Scope.ADDRESS}:{where}": (Scope.ADDRESS, None, where),
        f"{Scope.ACCOUNT}:{name}": (Scope.ACCOUNT, name, None),
    }
    return dict(sorted(keys.items()))


def live_failures(counter: Counter, *, now: datetime, policy: ThrottlePolicy) -> int:
    """The counter's failures, or 0 once it has been quiet long enough to forget."""
    if now - counter.last_failure_at >= policy.forget_after:
        return 0
    return counter.failures


def retry_at(counter: Counter, *, now: datetime, policy: ThrottlePolicy) -> datetime:
    """The earliest time this counter lets the next attempt through."""
    failures = live_failures(counter, now=now, policy=policy)
    return counter.last_failure_at + policy.backoff(counter.scope).delay(failures)


def decide(counters: list[Counter], *, now: datetime, policy: ThrottlePolicy) -> Wait | None:
    """The longest wait any counter imposes, or None when the attempt may go ahead."""
    waits = [Wait(until, c.scope) for c in counters
             if (until := retry_at(c, now=now, policy=policy)) > now]
    return max(waits, key=lambda w: w.until) if waits else None
