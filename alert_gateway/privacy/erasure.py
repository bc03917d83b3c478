"""Erasure of a resident who leaves the service: the person goes, the statistics stay.

Personal fields are cleared (the name becomes a placeholder), contacts are anonymised and
deactivated (past notification attempts keep pointing at the rows), devices are unlinked, and the
resident's alerts lose their details as retention would purge them. The alerts keep the resident
id, type, severity, outcome and times, so monthly reports still count them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.alerts import ACTIVE_STATUSES, Alert
from ..db.audit import AuditAction
from ..db.residents import PhoneType
from ..errors import Conflict
from ..residents import service
from . import audit, retention

ERASED_NAME = "(erased)"
# Every personal field of the resident card; what is not listed (id, flags, times) says nothing
# about the person beyond the id, which stays so that alerts remain countable per resident.
_CLEARED = ("kana", "address", "phone", "date_of_birth", "medical_notes", "gp", "gp_phone",
            "home_care", "property_type", "access_notes", "key_safe_location", "key_safe_code",
            "risk_notes", "notes", "activity_watch_hours", "last_activity_at",
            "wellbeing_schedule")  # their routine; its zone and channel say nothing of them


@dataclass(frozen=True)
class Erasure:
    """What an erasure changed."""

    contacts: int
    devices: int
    alerts: int


async def erase(session: AsyncSession, *, resident_id: str, actor: str, now: datetime) -> Erasure:
    """Erase a resident in the caller's transaction (the caller commits); audited."""
    resident = await service.get(session, resident_id=resident_id)
    if resident.erased_at is not None:
        raise Conflict(f"resident {resident_id!r} was already erased")
    open_alerts = (await session.exec(select(func.count()).select_from(Alert).where(
        col(Alert.resident_id) == resident_id, col(Alert.status).in_(ACTIVE_STATUSES)))).one()
    if open_alerts:
        raise Conflict(f"resident {resident_id!r} has {open_alerts} alert(s) still on the board: "
                       "resolve them first")
    for name in _CLEARED:
        setattr(resident, name, None)
    resident.name = ERASED_NAME
    resident.phone_type = PhoneType.UNKNOWN.value
    resident.oxygen_in_home = resident.bed_bound = resident.no_nearby_contact = False
    resident.away = False
    resident.line_user_id = None  # their LINE account is personal data
    resident.active = False
    resident.erased_at = resident.updated_at = now
    contacts = await service.contacts_for(session, resident_id=resident_id)
    for contact in contacts:
        contact.name = ERASED_NAME
        contact.phone = f"erased-{contact.id}"  # unique per resident, and no number at all
        contact.phone_type = PhoneType.UNKNOWN.value
        contact.availability = None
        contact.line_user_id = None  # their LINE account is personal data too
        contact.active = False
        contact.updated_at = now
    devices = await service.devices_for(session, resident_id=resident_id)
    for device in devices:
        device.resident_id = None
        device.location = None
        device.updated_at = now
    alert_ids = (await session.exec(select(Alert.id).where(
        col(Alert.resident_id) == resident_id, col(Alert.details_purged_at).is_(None)))).all()
    await retention.purge_alert_details(session, [i for i in alert_ids if i is not None], now=now)
    audit.record(session, actor=actor, action=AuditAction.ERASE, resident_id=resident_id, now=now,
                 detail=f"{len(contacts)} contacts, {len(devices)} devices")
    await session.flush()
    return Erasure(contacts=len(contacts), devices=len(devices), alerts=len(alert_ids))
