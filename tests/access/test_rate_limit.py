"""The answer page's per-client request window (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alert_gateway.web.rate_limit import SlidingWindow

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def test_a_client_over_the_limit_waits_for_the_window_to_slide() -> None:
    """Three a minute: the fourth is refused (and not counted), a minute later it is served."""
    window = SlidingWindow(3, timedelta(minutes=1))
    assert [window.allow("a", T0 + timedelta(seconds=s)) for s in (0, 10, 20, 30)] == [
        True, True, True, False]
    assert window.allow("b", T0 + timedelta(seconds=30))  # another client is not slowed
    assert window.allow("a", T0 + timedelta(seconds=61))


def test_memory_stays_bounded_under_a_flood_of_addresses() -> None:
    """Past max_keys, quiet clients are forgotten first, then the oldest half."""
    window = SlidingWindow(1, timedelta(minutes=1), max_keys=4)
    for n in range(10):
        assert window.allow(f"10.0.0.{n}", T0)
    assert len(window) <= 4
