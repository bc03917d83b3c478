"""The throttle's rules without I/O: growing delays with caps, forgetting, the longest wait wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alert_gateway.console.throttle import (
    Backoff,
    Counter,
    Scope,
    ThrottlePolicy,
    Wait,
    decide,
    keys_for,
)

NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
POLICY = ThrottlePolicy()


def test_delay_is_free_then_doubles_up_to_the_cap() -> None:
    """Three free failures, then 2 s, 4 s, 8 s ... never beyond the cap, even after thousands."""
    backoff = Backoff(free=3, first=timedelta(seconds=2), cap=timedelta(minutes=15))
    assert [backoff.delay(n).total_seconds() for n in range(7)] == [0, 0, 0, 2, 4, 8, 16]
    assert backoff.delay(10_000) == timedelta(minutes=15)


def test_no_counter_locks_out_for_long() -> None:
    """The account's own cap is seconds and the address's a minute: no lock-out by name or NAT."""
    assert POLICY.account.delay(10_000) <= timedelta(seconds=8)
    assert POLICY.address.delay(10_000) <= timedelta(minutes=1)


def test_the_longest_wait_decides() -> None:
    """Of several counters the one that waits longest refuses the attempt."""
    counters = [Counter("a", Scope.ACCOUNT, 9, NOW), Counter("p", Scope.PAIR, 6, NOW),
                Counter("d", Scope.ADDRESS, 0, NOW)]
    assert decide(counters, now=NOW, policy=POLICY) == Wait(NOW + timedelta(seconds=16), Scope.PAIR)


def test_a_quiet_counter_is_forgotten() -> None:
    """Fifteen quiet minutes make any count free again."""
    old = Counter("p", Scope.PAIR, 50, NOW - timedelta(minutes=15))
    assert decide([old], now=NOW, policy=POLICY) is None


def test_wait_rounds_up_to_whole_seconds() -> None:
    """Retry-After never says 0 and never lets a client come back too early."""
    assert Wait(NOW + timedelta(milliseconds=1), Scope.PAIR).seconds(NOW) == 1
    assert Wait(NOW + timedelta(seconds=2.2), Scope.PAIR).seconds(NOW) == 3


def test_keys_fold_case_and_bound_length() -> None:
    """`Hanako` and `hanako` share counters; an endless name makes a bounded key."""
    assert keys_for("Hanako", "192.0.2.1") == keys_for("hanako", "192.0.2.1")
    assert all(len(key) <= 200 for key in keys_for("x" * 5000, "192.0.2.1"))
