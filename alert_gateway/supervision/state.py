"""Load what supervision decides on: device rows, residents, and the tagged timeline entries.

Whether a condition is already raised is read from the database: Device.online for the link, and
for battery, inactivity and outages the latest timeline entry tagged `supervision` for it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmType

from ..db.models import ACTIVE_STATUSES, Alert, AlertEvent, Device, EventKind, Resident
from .decide import Condition, DeviceView, MarkState

MARKED_KINDS = (EventKind.OPENED.value, EventKind.ALARM.value, EventKind.RESTORED.value,
                EventKind.DEVICE_BACK.value)


def mark(condition: Condition, state: MarkState, *, device_ids: Collection[str] = (),
         resident_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """The data tag on a supervision timeline entry."""
    data: dict[str, Any] = {"supervision": condition.value, "state": state.value, **extra}
    if device_ids:
        data["device_ids"] = sorted(device_ids)
    if resident_id is not None:
        data["resident_id"] = resident_id
    return data


@dataclass(frozen=True, slots=True)
class Mark:
    """One tagged timeline entry."""

    alert: Alert
    state: MarkState
    at: datetime


@dataclass
class Marks:
    """Latest tagged entry per (condition, subject); subject is a device or resident id."""

    latest: dict[tuple[Condition, str], Mark] = field(default_factory=dict)

    def get(self, condition: Condition, subject: str) -> Mark | None:
        """The latest mark, or None."""
        return self.latest.get((condition, subject))


def device_view(device: Device) -> DeviceView:
    """The decision-side copy of a device row."""
    return DeviceView(
        id=device.id, resident_id=device.resident_id, online=device.online,
        last_seen_at=device.last_seen_at,
        # updated_at is stamped with the transition time whenever supervision flips `online`
        offline_since=None if device.online else device.updated_at,
        heartbeat_interval=device.heartbeat_interval, battery=device.battery,
    )


async def supervised_devices(session: AsyncSession) -> list[Device]:
    """Active devices that belong to an active resident: stock in a drawer is not supervised."""
    query = (select(Device).join(Resident, col(Resident.id) == col(Device.resident_id))
             .where(col(Device.active).is_(True), col(Resident.active).is_(True)))
    return list((await session.exec(query)).all())


async def watched_residents(session: AsyncSession) -> list[Resident]:
    """Active residents with the activity watch on."""
    query = select(Resident).where(col(Resident.active).is_(True),
                                   col(Resident.activity_watch_hours).is_not(None))
    return list((await session.exec(query)).all())


async def load_marks(session: AsyncSession, *, resident_ids: Collection[str],
                     alert_ids: Collection[int] = ()) -> Marks:
    """Tagged entries on the alerts of these residents (any status) and on these alerts."""
    marks = Marks()
    if not resident_ids and not alert_ids:
        return marks
    owner = col(Alert.resident_id).in_(list(resident_ids)) | col(Alert.id).in_(list(alert_ids))
    query = (select(AlertEvent, Alert).join(Alert, col(Alert.id) == col(AlertEvent.alert_id))
             .where(owner, col(AlertEvent.kind).in_(MARKED_KINDS))
             .order_by(col(AlertEvent.at), col(AlertEvent.id)))
    for ev, alert in (await session.exec(query)).all():
        data = ev.data or {}
        try:
            condition = Condition(data.get("supervision", ""))
            state = MarkState(data.get("state", ""))
        except ValueError:
            continue  # an entry from a device's own alarm, not from supervision
        subjects = list(data.get("device_ids") or [])
        if data.get("resident_id"):
            subjects.append(data["resident_id"])
        for subject in subjects:
            marks.latest[(condition, subject)] = Mark(alert, state, ev.at)
    return marks


async def active_incident(session: AsyncSession) -> tuple[Alert | None, set[str]]:
    """The active mass outage incident and the devices it holds."""
    query = (select(Alert).where(Alert.type == AlarmType.MASS_OUTAGE.value,
                                 col(Alert.status).in_(ACTIVE_STATUSES))
             .order_by(col(Alert.opened_at)))
    incident = (await session.exec(query)).first()
    if incident is None:
        return None, set()
    rows = await session.exec(select(AlertEvent).where(AlertEvent.alert_id == incident.id))
    held: set[str] = set()
    for ev in rows.all():
        if (ev.data or {}).get("state") == MarkState.COVERED.value:
            held.update(ev.data.get("device_ids") or [])
    return incident, held


async def only_supervision(session: AsyncSession, alert: Alert, condition: Condition) -> bool:
    """True when every alarm on the alert came from this supervision condition."""
    rows = await session.exec(select(AlertEvent).where(
        AlertEvent.alert_id == alert.id,
        col(AlertEvent.kind).in_((EventKind.OPENED.value, EventKind.ALARM.value))))
    return all((ev.data or {}).get("supervision") == condition.value for ev in rows.all())
