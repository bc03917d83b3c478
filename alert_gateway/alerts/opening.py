"""Opening an alert or attaching to the resident's active one: the one copy of that rule.

MQTT alarms (ingest/store.py) and supervision (device offline, low battery, inactivity, mass
outage) both come through here, so a technical alert groups, outranks and escalates exactly like
an alarm from a device.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmType

from ..bus import AlertChange, ChangeKind
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
from ..i18n.said import Said, say, term
from . import actions, rules


@dataclass(frozen=True, slots=True)
class Routed:
    """Where an alarm went: the alert, and whether it is new."""

    alert: Alert
    opened: bool


def further(said: Said) -> Said:
    """「追加: …」: the text of an alarm that joined an alert already open."""
    return say("timeline.further", text=said.data())


def alert_key(resident_id: str | None, device_id: str | None) -> str:
    """One active alert per resident; an unregistered device groups on its own id."""
    return resident_id if resident_id else f"device:{device_id}"


def event_values(alert_id: int, kind: EventKind, *, now: datetime, actor: str, said: Said,
                 **data: object) -> dict[str, Any]:
    """The columns of a timeline entry (a batch inserts many in one statement): its text kept as
    a key and parameters for each reader's language, and in English in `message`."""
    return {"alert_id": alert_id, "at": now, "kind": kind.value, "actor": actor,
            "message": said.english, "data": {**data, **said.data()}}


def event(alert: Alert, kind: EventKind, *, now: datetime, actor: str, said: Said,
          **data: object) -> AlertEvent:
    """A timeline entry for a flushed alert."""
    assert alert.id is not None
    return AlertEvent(**event_values(alert.id, kind, now=now, actor=actor, said=said, **data))


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
    alarm_type: AlarmType, unregistered: bool, now: datetime, actor: str, said: Said,
    data: dict[str, Any], raw_type: str | None = None, source_message_id: str | None = None,
    device_ts: datetime | None = None, skew: int | None = None, device: Device | None = None,
) -> Routed:
    """A new alert with its OPENED entry; logged-only types close at once, others may escalate."""
    alert = Alert(**new_alert_values(
        resident_id=resident_id, device_id=device_id, alarm_type=alarm_type,
        unregistered=unregistered, now=now, raw_type=raw_type, source_message_id=source_message_id,
        device_ts=device_ts, skew=skew))
    note_test_signal(device, alarm_type, now=now)
    session.add(alert)
    await session.flush()
    assert alert.id is not None
    session.add_all([AlertEvent(**e) for e in opened_entries(
        alert.id, alarm_type, now=now, actor=actor, said=said, data=data, skew=skew)])
    if starts_escalation(alarm_type):
        session.add(hooks.new_escalation(alert, now=now))
    return Routed(alert, opened=True)


def new_alert_values(
    *, resident_id: str | None, device_id: str | None, alarm_type: AlarmType, unregistered: bool,
    now: datetime, raw_type: str | None = None, source_message_id: str | None = None,
    device_ts: datetime | None = None, skew: int | None = None,
) -> dict[str, Any]:
    """The columns of a new alert; a logged-only type (test, check-in) is on record, closed at once."""
    logged_only = rules.is_logged_only(alarm_type)
    return {
        "resident_id": resident_id, "device_id": device_id, "type": alarm_type.value,
        "raw_type": raw_type, "severity": rules.severity_of(alarm_type).value,
        "status": AlertStatus.RESOLVED.value if logged_only else AlertStatus.OPEN.value,
        "unregistered": unregistered, "clock_skew_seconds": skew,
        "source_message_id": source_message_id, "opened_at": now, "device_ts": device_ts,
        "outcome": Outcome.TEST.value if logged_only else None,
        "resolved_at": now if logged_only else None,
        "resolved_by": "system" if logged_only else None,
        "updated_at": now,
    }


def note_test_signal(device: Device | None, alarm_type: AlarmType, *, now: datetime) -> None:
    """A test press or check-in is the device's latest test."""
    if device is not None and rules.is_logged_only(alarm_type):
        device.last_test_at = now


def starts_escalation(alarm_type: AlarmType) -> bool:
    """Whether a new alert of this type gets an escalation (never a logged-only one)."""
    return not rules.is_logged_only(alarm_type) and rules.escalates(alarm_type)


def opened_entries(
    alert_id: int, alarm_type: AlarmType, *, now: datetime, actor: str, said: Said,
    data: dict[str, Any], skew: int | None = None,
) -> list[dict[str, Any]]:
    """The timeline entries of a new alert: opened, clock skew, closed as a test."""
    entries = [event_values(alert_id, EventKind.OPENED, now=now, actor=actor, said=said, **data)]
    if skew is not None:
        entries.append(event_values(alert_id, EventKind.CLOCK_SKEW, now=now, actor=actor,
                                    said=say("timeline.alarm.clock_skew", skew=f"{skew:+d}"),
                                    skew_seconds=skew))
    if rules.is_logged_only(alarm_type):
        entries.append(event_values(alert_id, EventKind.RESOLVED, now=now, actor="system",
                                    said=say("timeline.alarm.test_logged"),
                                    outcome=Outcome.TEST.value))
    return entries


_ALERT_TABLE = Alert.__table__  # type: ignore[attr-defined]
_INSERT_ALERTS = insert(_ALERT_TABLE).returning(  # built once: see `insert_alerts`
    _ALERT_TABLE.c.id, _ALERT_TABLE.c.device_id, _ALERT_TABLE.c.source_message_id)
_INSERTED_COLUMNS = [c.key for c in _ALERT_TABLE.columns if c.key != "id"]


async def insert_alerts(session: AsyncSession, alerts: Sequence[dict[str, Any]]) -> list[int]:
    """Insert new alerts (`new_alert_values`) with one statement; their ids, in order.

    A flush inserts one alert per round trip on SQLite: SQLAlchemy has no row sentinel there to
    match the rows of a multi-row INSERT … RETURNING to their objects, so it does not batch them.
    Here rows are matched on (device, source message id), unique among the alarms of one batch.
    """
    params = [{k: values.get(k) for k in _INSERTED_COLUMNS} for values in alerts]
    keys = [(values["device_id"], values["source_message_id"]) for values in alerts]
    if len(set(keys)) < len(keys) or any(m is None for _, m in keys):  # not matchable: one each
        return [(await session.exec(insert(_ALERT_TABLE).returning(_ALERT_TABLE.c.id),
                                    params=row)).scalar_one() for row in params]
    rows = await session.exec(_INSERT_ALERTS, params=params)  # type: ignore[call-overload]
    ids = {(r.device_id, r.source_message_id): r.id for r in rows}
    return [ids[key] for key in keys]


async def attach(session: AsyncSession, alert: Alert, *, alarm_type: AlarmType, now: datetime,
                 actor: str, said: Said, data: dict[str, Any]) -> Routed:
    """A further alarm on an active alert: may raise its severity or re-open a cancelled one."""
    session.add(event(alert, EventKind.ALARM, now=now, actor=actor, said=said, **data))
    new_severity = rules.severity_of(alarm_type).value
    raised = rules.is_more_urgent(alarm_type, AlarmType(alert.type))
    reopened = alert.status == AlertStatus.CANCELLED.value and rules.escalates(alarm_type)
    if raised or reopened:
        if raised:
            session.add(event(alert, EventKind.SEVERITY_RAISED, now=now, actor=actor,
                              said=say("timeline.alarm.severity_raised",
                                         previous_alarm=term(f"alarm.{alert.type}"),
                                         previous=alert.severity,
                                         alarm=term(f"alarm.{alarm_type.value}"),
                                         severity=new_severity),
                              previous=alert.severity, previous_type=alert.type))
            alert.severity, alert.type = new_severity, alarm_type.value
        actions.reopen(alert)
        if rules.escalates(AlarmType(alert.type)):
            await hooks.restart(session, alert, now=now)
    else:
        await hooks.alarm_attached(session, alert, alarm_type, now=now)
    alert.updated_at = now
    return Routed(alert, opened=False)


async def open_or_attach(
    session: AsyncSession, *, active: Alert | None, resident_id: str | None,
    device_id: str | None, alarm_type: AlarmType, unregistered: bool, now: datetime, actor: str,
    said: Said, data: dict[str, Any], attach_said: Said | None = None,
) -> Routed:
    """Attach to `active` (the key's active alert, loaded by the caller) or open a new alert."""
    if active is not None and not rules.is_logged_only(alarm_type):
        return await attach(session, active, alarm_type=alarm_type, now=now, actor=actor,
                            said=attach_said or said, data=data)
    return await open_alert(session, resident_id=resident_id, device_id=device_id,
                            alarm_type=alarm_type, unregistered=unregistered, now=now, actor=actor,
                            said=said, data=data, raw_type=None)


async def raise_for_resident(session: AsyncSession, resident_id: str, alarm_type: AlarmType, *,
                             now: datetime, actor: str, said: Said,
                             data: dict[str, Any]) -> tuple[int, AlertChange]:
    """An alert for a resident raised by the centre's own call (no device): opened, or attached
    to the resident's active alert; returns its id and the change to publish after the commit."""
    active = await load_active(session, resident_ids=[resident_id], lone_device_ids=[])
    routed = await open_or_attach(
        session, active=active.get(resident_id), resident_id=resident_id, device_id=None,
        alarm_type=alarm_type, unregistered=False, now=now, actor=actor, said=said,
        data=data, attach_said=further(said))
    assert routed.alert.id is not None
    kind = ChangeKind.OPENED if routed.opened else ChangeKind.ALARM
    return routed.alert.id, AlertChange(routed.alert.id, kind)
