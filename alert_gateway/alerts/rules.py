"""Pure rules about alarms and alerts (no I/O), from ../shared/DOMAIN.md."""

from __future__ import annotations

from datetime import datetime

from devices.contract import ALARM_TYPES, AlarmType, Qualifier, Severity

from ..i18n.said import Said, say, term

ALERT_TYPES_THAT_NEVER_ATTACH = frozenset({AlarmType.TEST, AlarmType.CHECKIN})
SKEW_COLUMN_MAX = 2**31 - 1  # alert.clock_skew_seconds is a 32-bit integer on PostgreSQL


def severity_of(alarm_type: AlarmType) -> Severity:
    """The priority class of a type."""
    return ALARM_TYPES[alarm_type].severity


def urgency(alarm_type: AlarmType) -> tuple[int, int]:
    """Sort key, most urgent first: priority class, then fire types (they go to the centre first)."""
    info = ALARM_TYPES[alarm_type]
    return (info.severity.rank, 0 if info.fire else 1)


def is_more_urgent(candidate: AlarmType, current: AlarmType) -> bool:
    """True when a `candidate` alarm outranks the alert's current type."""
    return urgency(candidate) < urgency(current)


def is_logged_only(alarm_type: AlarmType) -> bool:
    """Test / check-in signals are logged and closed at once, never escalated."""
    return alarm_type in ALERT_TYPES_THAT_NEVER_ATTACH


def escalates(alarm_type: AlarmType) -> bool:
    """Whether an alert of this type gets an escalation (consult and mass_outage stay on the console)."""
    return ALARM_TYPES[alarm_type].escalates


def restore_may_close(severity: str) -> bool:
    """A restore closes a P3 by itself; never a P1 or P2 (a person must look)."""
    return Severity(severity) is Severity.P3


def is_restore(qualifier: Qualifier) -> bool:
    """The condition ended (mains restored, smoke cleared)."""
    return qualifier is Qualifier.RESTORE


def clock_skew_seconds(device_ts: datetime, received_at: datetime, limit: int) -> int | None:
    """Seconds the device clock is off, when more than `limit`; None when within it.

    A clock off by more than the column holds (about 68 years: a reset or broken clock) is
    flagged at the column's bound rather than refused: the alarm itself is still real.
    """
    skew = (device_ts - received_at).total_seconds()  # aware minus aware never overflows
    if abs(skew) <= limit:
        return None
    return int(max(-SKEW_COLUMN_MAX, min(SKEW_COLUMN_MAX, skew)))


def storable_device_ts(device_ts: datetime, received_at: datetime) -> datetime | None:
    """The device time worth keeping, or None when it is further off than the skew column measures.

    Such a time says nothing about when the alarm happened, and the extremes (year 1 or 9999 with
    an offset) cannot even be converted to UTC; the wire value stays in the alert's opening entry.
    """
    if abs((device_ts - received_at).total_seconds()) > SKEW_COLUMN_MAX:
        return None
    return device_ts


def cancel_refusal(
    alarm_type: AlarmType, elapsed_seconds: float, *, min_seconds: int, grace_seconds: int
) -> Said | None:
    """Why a resident's cancel is refused, or None when it is honoured (DOMAIN.md: cancel, fire)."""
    elapsed = f"{elapsed_seconds:.0f}"
    if ALARM_TYPES[alarm_type].fire:
        return say("timeline.refusal.fire", alarm=term(f"alarm.{alarm_type.value}"))
    if elapsed_seconds < min_seconds:
        return say("timeline.refusal.too_soon", elapsed=elapsed, min=min_seconds)
    if elapsed_seconds > grace_seconds:
        return say("timeline.refusal.too_late", elapsed=elapsed, grace=grace_seconds)
    return None
