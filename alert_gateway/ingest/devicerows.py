"""A batch's devices with their active alerts and their residents' people: one read.

Each device comes repeated beside each active alert of its key and each contact; `DeviceRows`
folds those rows into the devices, the active alerts by `alert_key`, and the people intake plans
with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, select
from sqlalchemy.orm import aliased
from sqlmodel import col

from ..alerts.opening import alert_key
from ..db.inlists import any_of, one_of
from ..db.models import ACTIVE_STATUSES, Alert, Contact, Device, Resident
from ..escalation.steploads import PEOPLE_COLUMNS, note_person
from ..escalation.steprows import People

_BY_RESIDENT = aliased(Alert, name="by_resident")  # the active alerts of the device's resident
_LONE = aliased(Alert, name="lone")  # of a device without a resident, grouped on the device
IS_LISTED: ColumnElement[bool] = any_of(col(Device.id), "device_ids")  # built once: see steploads


def with_alerts_and_people(query: Select[Any]) -> Select[Any]:
    """`query` (which selects `DEVICE_ENTITIES`, `Device` in its FROM) joined to what they need."""
    return (
        query
        .outerjoin(_BY_RESIDENT, and_(col(_BY_RESIDENT.resident_id) == Device.resident_id,
                                      one_of(col(_BY_RESIDENT.status), ACTIVE_STATUSES)))
        .outerjoin(_LONE, and_(col(Device.resident_id).is_(None), col(_LONE.resident_id).is_(None),
                               col(_LONE.device_id) == Device.id,
                               one_of(col(_LONE.status), ACTIVE_STATUSES)))
        # one join after the other: SQLite builds a bracketed resident + contacts join whole,
        # scanning every resident on each batch
        .outerjoin(Resident, col(Resident.id) == Device.resident_id)
        .outerjoin(Contact, col(Contact.resident_id) == Resident.id)
        .order_by(col(_BY_RESIDENT.opened_at), col(_LONE.opened_at))  # the oldest active alert wins
    )


DEVICE_ENTITIES: tuple[Any, ...] = (Device, _BY_RESIDENT, _LONE, *PEOPLE_COLUMNS)
DEVICES_AND_MORE = with_alerts_and_people(select(*DEVICE_ENTITIES).where(IS_LISTED))


@dataclass
class DeviceRows:
    """The devices read, their keys' active alerts, and their residents with their contacts."""

    devices: dict[str, Device] = field(default_factory=dict)
    active: dict[str, Alert] = field(default_factory=dict)
    people: People = field(default_factory=People)

    @classmethod
    def of(cls, rows: Sequence[Row[Any]]) -> DeviceRows:
        """Fold the read's rows (a row without a device, from an outer join, adds nothing)."""
        out = cls()
        for row in rows:
            m = row._mapping
            device: Device | None = m[Device]
            if device is None:
                continue
            out.devices[device.id] = device
            for alert in (m[_BY_RESIDENT], m[_LONE]):
                if alert is not None:
                    out.active.setdefault(alert_key(alert.resident_id, alert.device_id), alert)
            if device.resident_id is not None:
                note_person(m, out.people)
        return out
