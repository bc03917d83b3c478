"""Pure supervision rules (no I/O): offline, low battery, inactivity, mass outage (DOMAIN.md)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Condition(StrEnum):
    """What supervision watches; the value tags timeline entries so state survives a restart."""

    DEVICE_OFFLINE = "device_offline"
    LOW_BATTERY = "low_battery"
    INACTIVITY = "inactivity"
    MASS_OUTAGE = "mass_outage"


class MarkState(StrEnum):
    """What a tagged timeline entry says about its condition."""

    RAISED = "raised"  # an alert was opened or attached for it
    COVERED = "covered"  # part of a mass outage incident: no alert of its own
    CLEARED = "cleared"  # the condition ended (device back, battery replaced, activity seen)


@dataclass(frozen=True, slots=True)
class DeviceView:
    """What supervision needs to know about one device, from its row."""

    id: str
    resident_id: str | None
    online: bool
    last_seen_at: datetime | None
    offline_since: datetime | None  # when the stored online→offline transition happened
    heartbeat_interval: int
    battery: int | None


@dataclass(frozen=True, slots=True)
class GoOffline:
    """The device just went offline (`reason` silent or status) at `at`."""

    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class GoOnline:
    """The device was heard from after it went offline."""

    at: datetime


def silent_deadline(device: DeviceView, tolerance: int, *,
                    listening_since: datetime | None) -> datetime | None:
    """When a device that says nothing more counts as offline; None while nobody listens.

    Silence counts only while the gateway listens (`listening_since`: when it last subscribed):
    heartbeats published while it was away are not replayed to it, so a long outage of the
    gateway must not read as every device being silent.
    """
    if device.last_seen_at is None or listening_since is None:
        return None
    return max(device.last_seen_at, listening_since) + _tolerated(device, tolerance)


def _tolerated(device: DeviceView, tolerance: int) -> timedelta:
    return timedelta(seconds=device.heartbeat_interval * tolerance)


def decide_link(device: DeviceView, *, now: datetime, tolerance: int,
                status_offline_at: datetime | None,
                listening_since: datetime | None) -> GoOffline | GoOnline | None:
    """Only transitions are decided; a device never heard from is not supervised yet."""
    seen = device.last_seen_at
    if device.online:
        # a last will counts only if nothing newer was heard (the device may have reconnected)
        if status_offline_at is not None and (seen is None or seen <= status_offline_at):
            return GoOffline(status_offline_at, "status")
        deadline = silent_deadline(device, tolerance, listening_since=listening_since)
        if deadline is not None and deadline <= now:
            return GoOffline(deadline, "silent")
        return None
    if status_offline_at is not None and (seen is None or seen <= status_offline_at):
        return None
    since = device.offline_since
    if seen is None or (since is not None and seen <= since):
        return None
    # back only on a recent sighting of its own: the gateway starting to listen proves nothing
    return GoOnline(seen) if seen + _tolerated(device, tolerance) > now else None


def decide_battery(battery: int | None, *, raised: bool, threshold: int,
                   hysteresis: int) -> MarkState | None:
    """Raise once below the threshold; clear only above threshold + hysteresis (no flapping)."""
    if battery is None:
        return None
    if not raised and battery < threshold:
        return MarkState.RAISED
    if raised and battery >= threshold + hysteresis:
        return MarkState.CLEARED
    return None


def watch_window(hours: int | None, *, default_hours: int, min_hours: int) -> timedelta | None:
    """The resident's activity window; None is off, 0 means on with the default, never below min."""
    if hours is None:
        return None
    if hours <= 0:
        hours = default_hours
    return timedelta(hours=max(hours, min_hours))


def decide_inactivity(*, window: timedelta | None, last_activity_at: datetime | None,
                      away: bool, last_mark: tuple[MarkState, datetime] | None,
                      now: datetime) -> MarkState | None:
    """Raise once per quiet spell; a raised spell is cleared (noted, never closed) by activity."""
    if window is None or last_activity_at is None:
        return None
    raised_at = last_mark[1] if last_mark and last_mark[0] is MarkState.RAISED else None
    quiet = not away and now - last_activity_at >= window  # away pauses the watch, never resets it
    if raised_at is None:
        return MarkState.RAISED if quiet else None
    if last_activity_at <= raised_at:
        return None  # this quiet spell is already raised
    return MarkState.RAISED if quiet else MarkState.CLEARED


@dataclass(frozen=True, slots=True)
class OutageDecision:
    """What to do about a mass outage this check."""

    open: bool = False
    cover: frozenset[str] = frozenset()  # devices the incident takes over (no alert of their own)
    back: frozenset[str] = frozenset()  # covered devices heard from again
    resolve: bool = False


@dataclass(frozen=True, slots=True)
class OutageRule:
    """The configured mass-outage thresholds."""

    fraction: float
    window: timedelta
    min_devices: int
    resolve_fraction: float


def outage_may_open(offline_since: Mapping[str, datetime], *, now: datetime,
                    rule: OutageRule) -> bool:
    """Whether enough devices dropped within the window for the population to matter at all."""
    recent = sum(1 for at in offline_since.values() if now - rule.window <= at <= now)
    return recent >= rule.min_devices


def decide_outage(*, population: int, offline_since: Mapping[str, datetime],
                  newly_offline: Collection[str], newly_online: Collection[str],
                  covered: Collection[str] | None, now: datetime,
                  rule: OutageRule) -> OutageDecision:
    """More than `fraction` of the population offline within `window` is one incident.

    `offline_since` holds every supervised device offline after this check; `covered` is None when
    no incident is active, else the devices it already holds.
    """
    if covered is None:
        recent = frozenset(d for d, at in offline_since.items() if now - rule.window <= at <= now)
        if len(recent) >= rule.min_devices and len(recent) > rule.fraction * population:
            return OutageDecision(open=True, cover=recent)
        return OutageDecision()
    held = frozenset(covered)
    # while an outage is on, more homes dropping off are the same event, not new escalations
    cover = frozenset(newly_offline) - held
    everyone = held | cover
    back = frozenset(newly_online) & held
    still_offline = {d for d in everyone if d in offline_since}
    resolve = bool(everyone) and (len(everyone) - len(still_offline)) >= rule.resolve_fraction * len(
        everyone
    )
    return OutageDecision(cover=cover, back=back, resolve=resolve)
