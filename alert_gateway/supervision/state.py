"""Load what supervision decides on: device rows, residents, and the tagged timeline entries.

Whether a condition is already raised is read from the database: Device.online for the link, and
for battery, inactivity and outages the latest timeline entry tagged `supervision` for it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, func, or_
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmType

from ..db.models import ACTIVE_STATUSES, Alert, AlertEvent, Device, EventKind, Resident
from .decide import Condition, DeviceView, MarkState

# The SQL prefilters below compare in float epoch seconds (SQLite's julianday is good to about
# a millisecond); this slack makes them a superset, and the pure rules in decide.py then decide
# exactly as they would over every row.
PREFILTER_SLACK_SECONDS = 2.0
ID_CHUNK = 5000
ACTOR = "system:supervision"  # on every timeline entry supervision writes

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


def _epoch(session: AsyncSession, column: Any) -> ColumnElement[float]:
    """A timestamp column as epoch seconds, in SQL."""
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        return func.extract("epoch", column)  # type: ignore[return-value]
    return (func.julianday(column) - 2440587.5) * 86400.0  # SQLite stores ISO text


def _supervised() -> ColumnElement[bool]:
    """Active devices that belong to an active resident: stock in a drawer is not supervised."""
    return and_(col(Device.active).is_(True), col(Resident.active).is_(True))


_DEVICE_COLUMNS = (col(Device.id), col(Device.resident_id), col(Device.online),
                   col(Device.last_seen_at), col(Device.updated_at),
                   col(Device.heartbeat_interval), col(Device.battery))


async def supervised_count(session: AsyncSession) -> int:
    """How many devices supervision watches (the mass-outage population)."""
    query = (select(func.count()).select_from(Device)
             .join(Resident, col(Resident.id) == col(Device.resident_id)).where(_supervised()))
    return int((await session.exec(query)).one())


async def candidate_devices(session: AsyncSession, *, now: datetime, tolerance: int,
                            listening_since: datetime | None, battery_below: int,
                            resident_ids: Collection[str],
                            device_ids: Collection[str]) -> list[DeviceView]:
    """Only the supervised devices a rule could decide something about this check, as columns.

    Those are: offline ones (they may come back), online ones past their silence deadline (by
    their last stored sighting, and only while the gateway listens: decide.silent_deadline),
    batteries below threshold + hysteresis, devices of residents with an active alert (a battery
    mark may clear), and `device_ids` (a last will or activity was noted).
    A device that is online, on time and charged is never loaded.
    """
    base = (core_select(*_DEVICE_COLUMNS)
            .join(Resident, col(Resident.id) == col(Device.resident_id)).where(_supervised()))
    wanted = [col(Device.online).is_(False), col(Device.battery) < battery_below]
    if listening_since is not None:
        tolerated = col(Device.heartbeat_interval) * tolerance
        listened = (now - listening_since).total_seconds()
        # so the first check after the gateway was away loads no one, not every device at once
        wanted.append(and_(
            col(Device.last_seen_at).is_not(None),
            _epoch(session, col(Device.last_seen_at)) + tolerated
            <= now.timestamp() + PREFILTER_SLACK_SECONDS,
            tolerated <= listened + PREFILTER_SLACK_SECONDS))
    if resident_ids:
        wanted.append(col(Device.resident_id).in_(sorted(resident_ids)))
    connection = await session.connection()  # plain rows, no ORM instances
    rows = list((await connection.execute(base.where(or_(*wanted)))).all())
    ids = sorted(set(device_ids))
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        rows += (await connection.execute(base.where(col(Device.id).in_(chunk)))).all()
    views: dict[str, DeviceView] = {}
    for id_, resident_id, online, last_seen_at, updated_at, interval, battery in rows:
        views[id_] = DeviceView(id=id_, resident_id=resident_id, online=online,
                                last_seen_at=last_seen_at,
                                # supervision stamps updated_at with the transition time
                                offline_since=None if online else updated_at,
                                heartbeat_interval=interval, battery=battery)
    return list(views.values())


async def set_online(session: AsyncSession, changes: dict[str, tuple[bool, datetime]]) -> None:
    """Store link transitions: online flag, and updated_at = when it happened."""
    if changes:
        table = Device.__table__  # type: ignore[attr-defined]
        rows = [{"b_id": d, "b_online": online, "b_at": at}
                for d, (online, at) in sorted(changes.items())]
        stmt = (table.update().where(table.c.id == bindparam("b_id"))
                .values(online=bindparam("b_online"),
                        updated_at=bindparam("b_at", type_=table.c.updated_at.type)))
        await (await session.connection()).execute(stmt, rows)


async def watched_residents(session: AsyncSession, *, now: datetime, default_hours: int,
                            min_hours: int, resident_ids: Collection[str] = ()) -> list[Resident]:
    """Active residents with the activity watch on who are quiet past their window (by SQL), or
    in `resident_ids` (an active alert may hold an inactivity mark to clear)."""
    hours = col(Resident.activity_watch_hours)
    chosen = case((hours <= 0, default_hours), else_=hours)  # same rule as decide.watch_window
    window_h = case((chosen < min_hours, min_hours), else_=chosen)
    last = func.coalesce(col(Resident.last_activity_at), col(Resident.created_at))
    quiet = _epoch(session, last) + window_h * 3600 <= now.timestamp() + PREFILTER_SLACK_SECONDS
    wanted = [quiet]
    if resident_ids:
        wanted.append(col(Resident.id).in_(sorted(resident_ids)))
    query = select(Resident).where(col(Resident.active).is_(True), hours.is_not(None),
                                   or_(*wanted))
    return list((await session.exec(query)).all())


async def residents_with_marks(session: AsyncSession) -> set[str]:
    """Residents whose active alerts hold supervision entries (a mark there may clear). Not
    every active alert's resident: during a sweep that is hundreds, each check then loaded their
    devices, residents and timelines (tens of ms of the loop every 30 s, alarms waiting)."""
    marked = (select(AlertEvent.id).where(col(AlertEvent.alert_id) == col(Alert.id),
                                          col(AlertEvent.actor) == ACTOR).exists())
    rows = await session.exec(select(Alert.resident_id).where(
        col(Alert.status).in_(ACTIVE_STATUSES), col(Alert.resident_id).is_not(None),
        marked).distinct())
    return {r for r in rows.all() if r}


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
