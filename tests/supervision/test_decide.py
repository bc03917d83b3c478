"""Pure supervision rules: link transitions, battery hysteresis, activity window, mass outage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alert_gateway.supervision.decide import (
    DeviceView,
    GoOffline,
    GoOnline,
    MarkState,
    OutageRule,
    decide_battery,
    decide_inactivity,
    decide_link,
    decide_outage,
    outage_may_open,
    watch_window,
)

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
RULE = OutageRule(fraction=0.2, window=timedelta(minutes=5), min_devices=5, resolve_fraction=0.8)


def _device(*, online: bool = True, seen: datetime | None = T0,
            since: datetime | None = None) -> DeviceView:
    return DeviceView("d-1", "r-1", online, seen, since, heartbeat_interval=60, battery=None)


def test_silent_device_goes_offline_at_its_deadline_not_before() -> None:
    """Offline after interval × tolerance of silence, stamped with the deadline itself."""
    assert decide_link(_device(), now=T0 + timedelta(seconds=179), tolerance=3,
                       status_offline_at=None, listening_since=T0) is None
    change = decide_link(_device(), now=T0 + timedelta(seconds=200), tolerance=3,
                         status_offline_at=None, listening_since=T0)
    assert change == GoOffline(T0 + timedelta(seconds=180), "silent")


def test_last_will_is_offline_at_once_unless_heard_from_since() -> None:
    """A last will counts at once; a heartbeat after it means the device reconnected."""
    will = T0 + timedelta(seconds=5)
    assert decide_link(_device(), now=will, tolerance=3, status_offline_at=will,
                       listening_since=T0) == GoOffline(will, "status")
    later = _device(seen=will + timedelta(seconds=1))
    assert decide_link(later, now=will, tolerance=3, status_offline_at=will,
                       listening_since=T0) is None


def test_offline_device_is_back_only_when_heard_after_going_offline() -> None:
    """Back needs a sighting newer than the transition; an old one changes nothing."""
    since = T0 + timedelta(seconds=180)
    stale = _device(online=False, seen=T0, since=since)
    assert decide_link(stale, now=since + timedelta(seconds=60), tolerance=3,
                       status_offline_at=None, listening_since=T0) is None
    fresh = _device(online=False, seen=since + timedelta(seconds=30), since=since)
    assert decide_link(fresh, now=since + timedelta(seconds=60), tolerance=3,
                       status_offline_at=None, listening_since=T0) == GoOnline(since + timedelta(seconds=30))


def test_never_seen_device_is_not_supervised_yet() -> None:
    """A device that never checked in has no deadline."""
    assert decide_link(_device(seen=None), now=T0 + timedelta(days=9), tolerance=3,
                       status_offline_at=None, listening_since=T0) is None


def test_silence_counts_only_from_when_the_gateway_started_listening() -> None:
    """Seen a day before the gateway subscribed: offline at listening_since + tolerance, not at once."""
    listening = T0 + timedelta(days=1)
    assert decide_link(_device(), now=listening, tolerance=3, status_offline_at=None,
                       listening_since=listening) is None
    assert decide_link(_device(), now=listening + timedelta(seconds=179), tolerance=3,
                       status_offline_at=None, listening_since=listening) is None
    change = decide_link(_device(), now=listening + timedelta(seconds=180), tolerance=3,
                         status_offline_at=None, listening_since=listening)
    assert change == GoOffline(listening + timedelta(seconds=180), "silent")


def test_no_silence_is_decided_while_the_gateway_is_not_listening() -> None:
    """Disconnected from the broker, a week of silence decides nothing; a last will still does."""
    week = T0 + timedelta(days=7)
    assert decide_link(_device(), now=week, tolerance=3, status_offline_at=None,
                       listening_since=None) is None
    assert decide_link(_device(), now=week, tolerance=3, status_offline_at=week,
                       listening_since=None) == GoOffline(week, "status")


def test_battery_raises_once_and_clears_above_hysteresis() -> None:
    """Below 20 % raises; 22 % is not yet clear; 25 % is."""
    assert decide_battery(19, raised=False, threshold=20, hysteresis=5) is MarkState.RAISED
    assert decide_battery(15, raised=True, threshold=20, hysteresis=5) is None
    assert decide_battery(22, raised=True, threshold=20, hysteresis=5) is None
    assert decide_battery(25, raised=True, threshold=20, hysteresis=5) is MarkState.CLEARED
    assert decide_battery(None, raised=False, threshold=20, hysteresis=5) is None


def test_watch_window_off_default_and_minimum() -> None:
    """None is off, 0 is the default 24 h, anything under 5 h is 5 h."""
    assert watch_window(None, default_hours=24, min_hours=5) is None
    assert watch_window(0, default_hours=24, min_hours=5) == timedelta(hours=24)
    assert watch_window(2, default_hours=24, min_hours=5) == timedelta(hours=5)
    assert watch_window(12, default_hours=24, min_hours=5) == timedelta(hours=12)


def test_inactivity_raises_once_per_quiet_spell_and_pauses_while_away() -> None:
    """Quiet past the window raises; again only after new activity and a new quiet spell."""
    w = timedelta(hours=6)
    now = T0 + timedelta(hours=7)
    assert decide_inactivity(window=w, last_activity_at=T0, away=False, last_mark=None,
                             now=now) is MarkState.RAISED
    assert decide_inactivity(window=w, last_activity_at=T0, away=True, last_mark=None,
                             now=now) is None
    raised = (MarkState.RAISED, T0 + timedelta(hours=6))
    assert decide_inactivity(window=w, last_activity_at=T0, away=False, last_mark=raised,
                             now=now) is None
    moved = T0 + timedelta(hours=6, minutes=30)
    assert decide_inactivity(window=w, last_activity_at=moved, away=False, last_mark=raised,
                             now=now) is MarkState.CLEARED
    assert decide_inactivity(window=w, last_activity_at=moved, away=False, last_mark=raised,
                             now=moved + w) is MarkState.RAISED


def test_outage_needs_more_than_the_fraction_within_the_window() -> None:
    """4 of 20 is 20 % (not more); 6 of 20 in five minutes opens one incident."""
    now = T0 + timedelta(minutes=10)
    four = {f"d-{i}": now for i in range(4)}
    assert not decide_outage(population=20, offline_since=four, newly_offline=four,
                             newly_online=(), covered=None, now=now, rule=RULE).open
    six = {f"d-{i}": now - timedelta(minutes=i) for i in range(6)}
    decision = decide_outage(population=20, offline_since=six, newly_offline=["d-0"],
                             newly_online=(), covered=None, now=now, rule=RULE)
    assert decision.open and decision.cover == frozenset(six)
    old = {f"d-{i}": now - timedelta(minutes=30) for i in range(6)}
    assert not decide_outage(population=20, offline_since=old, newly_offline=(),
                             newly_online=(), covered=None, now=now, rule=RULE).open


def test_outage_covers_later_drops_and_resolves_when_most_are_back() -> None:
    """While on, new offline devices join it; it resolves at 80 % back."""
    held = {f"d-{i}" for i in range(10)}
    still = {f"d-{i}": T0 for i in range(3)}
    decision = decide_outage(population=40, offline_since={**still, "d-99": T0},
                             newly_offline=["d-99"], newly_online=["d-5"], covered=held, now=T0,
                             rule=RULE)
    assert decision.cover == {"d-99"} and decision.back == {"d-5"} and not decision.resolve
    decision = decide_outage(population=40, offline_since={"d-0": T0, "d-1": T0},
                             newly_offline=(), newly_online=["d-2"], covered=held, now=T0,
                             rule=RULE)
    assert decision.resolve


def test_population_matters_only_once_enough_devices_dropped_recently() -> None:
    """Below min_devices offline within the window no population can open an outage."""
    now = T0 + timedelta(minutes=10)
    few = {f"d-{i}": now for i in range(RULE.min_devices - 1)}
    assert not outage_may_open(few, now=now, rule=RULE)
    for population in (0, 1, 10**6):  # whatever the count would have been
        assert not decide_outage(population=population, offline_since=few, newly_offline=few,
                                 newly_online=(), covered=None, now=now, rule=RULE).open
    enough = {f"d-{i}": now for i in range(RULE.min_devices)}
    old = {f"o-{i}": now - timedelta(hours=1) for i in range(10)}
    assert outage_may_open(enough, now=now, rule=RULE)
    assert not outage_may_open(old, now=now, rule=RULE)
