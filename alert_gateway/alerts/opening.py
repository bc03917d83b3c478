"""Opening an alert or attaching to the resident's active one: the one copy of that rule.

MQTT alarms (ingest/store.py) and supervision (device offline, low battery, inactivity, mass
outage) both come through here, so a technical alert groups, outranks and escalates exactly like
an alarm from a device.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmType

from ..db.models import (
    ACTIVE_STATUSES,
    Alert,
    AlertEvent,
    AlertStatus,
    Device,
    EventKind,
    Outcome,
)
from ..escalation import hooks
from . import rules


@dataclass(frozen=True, slots=True)
class Routed:
    """Where an alarm went: the alert, whether it is new, whether an escalation row changed."""

    alert: Alert
    opened: bool
    escalations_changed: bool


def alert_key(resident_id: str | None, device_id: str | None) -> str:
    """One active alert per resident; an unregistered device groups on its own id."""
    return resident_id if resident_id else f"device:{device_id}"


def event(alert: Alert, kind: EventKind, *, now: datetime, actor: str, message: str,
          **data: object) -> AlertEvent:
    """A timeline entry for a flushed alert."""
    assert alert.id is not None
    return AlertEvent(alert_id=alert.id, at=now, kind=kind.value, actor=actor, message=message,
                      data=data)


async def load_active(session: AsyncSession, *, resident_ids: Collection[str],
                      lone_device_ids: Collection[str]) -> dict[str, Alert]:
    """Active alerts by `alert_key`, oldest first wins; lone devices are those without a resident."""
    if not resident_ids and not lone_device_ids:
        return {}
    query = select(Alert).where(col(Alert.status).in_(ACTIVE_STATUSES))
    query = query.where(
        col(Alert.resident_id).in_(list(resident_ids))
        | (col(Alert.resident_id).is_(None) & col(Alert.device_id).in_(list(lone_device_ids)))
    ).order_by(col(Alert.opened_at))
    active: dict[str, Alert] = {}
    for alert in (await session.exec(query)).all():
        active.setdefault(alert_key(alert.resident_id, alert.device_id), alert)
    return active


async def open_alert(
    session: AsyncSession, *, resident_id: str | None, device_id: str | None,
    alarm_type: AlarmType, unregistered: bool, now: datetime, actor: str, message: str,
    data: dict[str, Any], raw_type: str | None = None, source_message_id: str | None = None,
    device_ts: datetime | None = None, skew: int | None = None, device: Device | None = None,
) -> Routed:
    """A new alert with its OPENED entry; logged-only types close at once, others may escalate."""
    logged_only = rules.is_logged_only(alarm_type)
    alert = Alert(
        resident_id=resident_id, device_id=device_id, type=alarm_type.value, raw_type=raw_type,
        severity=rules.severity_of(alarm_type).value, unregistered=unregistered,
        clock_skew_seconds=skew, source_message_id=source_message_id, opened_at=now,
        device_ts=device_ts, updated_at=now,
        status=AlertStatus.RESOLVED.value if logged_only else AlertStatus.OPEN.value,
    )
    if logged_only:  # test / check-in: on record, never escalated
        alert.outcome, alert.resolved_at, alert.resolved_by = Outcome.TEST.value, now, "system"
        if device is not None:
            device.last_test_at = now
    session.add(alert)
    await session.flush()
    session.add(event(alert, EventKind.OPENED, now=now, actor=actor, message=message, **data))
    if skew is not None:
        session.add(event(alert, EventKind.CLOCK_SKEW, now=now, actor=actor,
                          message=f"device clock is {skew:+d} s off", skew_seconds=skew))
    escalating = False
    if logged_only:
        session.add(event(alert, EventKind.RESOLVED, now=now, actor="system",
                          message="test signal logged", outcome=Outcome.TEST.value))
    elif rules.escalates(alarm_type):
        session.add(hooks.new_escalation(alert, now=now))
        escalating = True
    return Routed(alert, opened=True, escalations_changed=escalating)


async def attach(session: AsyncSession, alert: Alert, *, alarm_type: AlarmType, now: datetime,
                 actor: str, message: str, data: dict[str, Any]) -> Routed:
    """A further alarm on an active alert: may raise its severity or re-open a cancelled one."""
    session.add(event(alert, EventKind.ALARM, now=now, actor=actor, message=message, **data))
    new_severity = rules.severity_of(alarm_type).value
    raised = rules.is_more_urgent(alarm_type, AlarmType(alert.type))
    reopened = alert.status == AlertStatus.CANCELLED.value and rules.escalates(alarm_type)
    changed = False
    if raised or reopened:
        if raised:
            session.add(event(alert, EventKind.SEVERITY_RAISED, now=now, actor=actor,
                              message=f"{alert.type} {alert.severity} → {alarm_type.value} {new_severity}",
                              previous=alert.severity, previous_type=alert.type))
            alert.severity, alert.type = new_severity, alarm_type.value
        alert.status = AlertStatus.OPEN.value
        if rules.escalates(AlarmType(alert.type)):
            await hooks.restart(session, alert, now=now)
            changed = True
    else:
        await hooks.alarm_attached(session, alert, alarm_type, now=now)
        changed = True
    alert.updated_at = now
    return Routed(alert, opened=False, escalations_changed=changed)


async def open_or_attach(
    session: AsyncSession, *, active: Alert | None, resident_id: str | None,
    device_id: str | None, alarm_type: AlarmType, unregistered: bool, now: datetime, actor: str,
    message: str, data: dict[str, Any], attach_message: str | None = None,
) -> Routed:
    """Attach to `active` (the key's active alert, loaded by the caller) or open a new alert."""
    if active is not None and not rules.is_logged_only(alarm_type):
        return await attach(session, active, alarm_type=alarm_type, now=now, actor=actor,
                            message=attach_message or message, data=data)
    return await open_alert(session, resident_id=resident_id, device_id=device_id,
                            alarm_type=alarm_type, unregistered=unregistered, now=now, actor=actor,
                            message=message, data=data, raw_type=None)


async def close_restored(session: AsyncSession, alert: Alert, *, now: datetime) -> None:
    """The technical condition ended by itself: resolved as restored, escalation stopped."""
    alert.status, alert.outcome = AlertStatus.RESOLVED.value, Outcome.RESTORED.value
    alert.resolved_at, alert.resolved_by, alert.updated_at = now, "system", now
    assert alert.id is not None
    await hooks.stop(session, alert.id, now=now)
