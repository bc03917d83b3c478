"""Standard verbs for residents, their contacts and devices; the caller commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.residents import Contact, Device, Resident
from ..errors import Conflict, InvalidInput, NotFound
from .schemas import ContactIn, ContactUpdate, DeviceIn, ResidentIn, ResidentUpdate

_Model = TypeVar("_Model", ResidentIn, ContactIn)
_HIRAGANA = {code: code + 0x60 for code in range(ord("ぁ"), ord("ゖ") + 1)}


# --- residents ---------------------------------------------------------------------------


async def get(session: AsyncSession, *, resident_id: str) -> Resident:
    """The resident with this id; NotFound if there is none."""
    resident = await session.get(Resident, resident_id)
    if resident is None:
        raise NotFound(f"no resident {resident_id!r}")
    return resident


def _resident_filters(search: str | None, active: bool | None) -> list[Any]:
    """WHERE clauses shared by the list and its count."""
    filters: list[Any] = []
    if active is not None:
        filters.append(col(Resident.active) == active)
    if search and search.strip():
        text = search.strip()
        # Kana is stored in katakana; operators often type hiragana.
        kana = text.translate(_HIRAGANA)
        filters.append(
            or_(
                col(Resident.id).icontains(text, autoescape=True),
                col(Resident.name).icontains(text, autoescape=True),
                col(Resident.kana).icontains(kana, autoescape=True),
                col(Resident.address).icontains(text, autoescape=True),
            )
        )
    return filters


async def get_all(
    session: AsyncSession,
    *,
    search: str | None = None,
    active: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Resident]:
    """Residents by id, filtered by a search on id, name, kana or address and by active."""
    query = select(Resident).where(*_resident_filters(search, active))
    query = query.order_by(col(Resident.id)).limit(limit).offset(offset)
    return list((await session.exec(query)).all())


async def count(session: AsyncSession, *, search: str | None = None, active: bool | None = None) -> int:
    """How many residents `get_all` would list without paging."""
    query = select(func.count()).select_from(Resident).where(*_resident_filters(search, active))
    return int((await session.exec(query)).one())


async def create(session: AsyncSession, *, data: ResidentIn, now: datetime) -> Resident:
    """A new resident; Conflict if the id is taken."""
    if await session.get(Resident, data.id) is not None:
        raise Conflict(f"resident {data.id!r} already exists")
    resident = Resident(**_resident_values(data, only_given=False), created_at=now, updated_at=now)
    session.add(resident)
    await session.flush()
    return resident


async def update(
    session: AsyncSession, *, resident_id: str, data: ResidentUpdate, now: datetime
) -> Resident:
    """Change the given fields of a resident, validated as a whole like a new one."""
    resident = await get(session, resident_id=resident_id)
    changes = data.model_dump(exclude_unset=True)
    if "phone" in changes and "phone_type" not in changes:
        changes["phone_type"] = None  # re-derive it from the new number
    merged = {n: getattr(resident, n) for n in ResidentIn.model_fields} | changes
    checked = _validate(ResidentIn, merged)
    given = set(changes) | ({"phone_type"} if "phone" in changes else set())
    _apply(resident, {k: v for k, v in checked.model_dump().items() if k in given}, now)
    await session.flush()
    return resident


async def upsert(
    session: AsyncSession, *, data: ResidentIn, now: datetime
) -> tuple[Resident, bool]:
    """Create or update a resident by id (only the fields the input gave); True if created."""
    resident = await session.get(Resident, data.id)
    if resident is None:
        return await create(session, data=data, now=now), True
    _apply(resident, _resident_values(data, only_given=True), now)
    await session.flush()
    return resident, False


async def deactivate(session: AsyncSession, *, resident_id: str, now: datetime) -> Resident:
    """Stop alarms being expected from a resident; the record and its history stay."""
    resident = await get(session, resident_id=resident_id)
    _apply(resident, {"active": False}, now)
    await session.flush()
    return resident


# --- contacts ----------------------------------------------------------------------------


async def get_contact(session: AsyncSession, *, contact_id: int) -> Contact:
    """The contact with this id; NotFound if there is none."""
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"no contact {contact_id}")
    return contact


async def contacts_for(
    session: AsyncSession, *, resident_id: str, active: bool | None = None
) -> list[Contact]:
    """A resident's contacts in the order they are called (priority, then first added)."""
    query = select(Contact).where(col(Contact.resident_id) == resident_id)
    if active is not None:
        query = query.where(col(Contact.active) == active)
    query = query.order_by(col(Contact.priority), col(Contact.id))
    return list((await session.exec(query)).all())


async def create_contact(
    session: AsyncSession, *, resident_id: str, data: ContactIn, now: datetime
) -> Contact:
    """A new contact for a resident; Conflict if the resident already has this number."""
    await get(session, resident_id=resident_id)
    if await _contact_by_phone(session, resident_id=resident_id, phone=data.phone) is not None:
        raise Conflict(f"resident {resident_id!r} already has a contact with this phone")
    contact = Contact(
        resident_id=resident_id, **data.model_dump(mode="json"), created_at=now, updated_at=now
    )
    session.add(contact)
    await session.flush()
    return contact


async def update_contact(
    session: AsyncSession, *, contact_id: int, data: ContactUpdate, now: datetime
) -> Contact:
    """Change the given fields of a contact, validated as a whole like a new one."""
    contact = await get_contact(session, contact_id=contact_id)
    changes = data.model_dump(exclude_unset=True)
    if "phone" in changes:
        changes.setdefault("phone_type", None)  # re-derived from the new number
        changes.setdefault("channels", None)  # a landline must not keep sms
    merged = {n: getattr(contact, n) for n in ContactIn.model_fields} | changes
    checked = _validate(ContactIn, merged)
    if checked.phone != contact.phone:
        other = await _contact_by_phone(
            session, resident_id=contact.resident_id, phone=checked.phone
        )
        if other is not None:
            raise Conflict(
                f"resident {contact.resident_id!r} already has a contact with this phone"
            )
    _apply(contact, checked.model_dump(mode="json"), now)
    await session.flush()
    return contact


async def upsert_contact(
    session: AsyncSession, *, resident_id: str, data: ContactIn, now: datetime
) -> tuple[Contact, bool]:
    """Create or update a resident's contact by phone number; True if created."""
    contact = await _contact_by_phone(session, resident_id=resident_id, phone=data.phone)
    if contact is None:
        return await create_contact(session, resident_id=resident_id, data=data, now=now), True
    # sms_opt_out is never in the input: a STOP from this number survives every re-import.
    _apply(contact, data.model_dump(mode="json"), now)
    await session.flush()
    return contact, False


async def deactivate_contact(session: AsyncSession, *, contact_id: int, now: datetime) -> Contact:
    """Stop calling a contact; past attempts keep pointing at the row."""
    contact = await get_contact(session, contact_id=contact_id)
    _apply(contact, {"active": False}, now)
    await session.flush()
    return contact


# --- devices -----------------------------------------------------------------------------


async def get_device(session: AsyncSession, *, device_id: str) -> Device:
    """The device with this id; NotFound if there is none."""
    device = await session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id!r}")
    return device


async def devices_for(session: AsyncSession, *, resident_id: str) -> list[Device]:
    """The devices in a resident's home, by id."""
    query = select(Device).where(col(Device.resident_id) == resident_id).order_by(col(Device.id))
    return list((await session.exec(query)).all())


async def upsert_device(
    session: AsyncSession, *, resident_id: str | None, data: DeviceIn, now: datetime
) -> tuple[Device, bool]:
    """Register a device or change its registration, also moving it; True if created."""
    if resident_id is not None:
        await get(session, resident_id=resident_id)
    values = data.model_dump(mode="json") | {"resident_id": resident_id}
    device = await session.get(Device, data.id)
    if device is None:
        device = Device(**values, created_at=now, updated_at=now)
        session.add(device)
        await session.flush()
        return device, True
    # Supervision state (last_seen_at, online, battery) belongs to ingest, not to registration.
    _apply(device, values, now)
    await session.flush()
    return device, False


# --- helpers -----------------------------------------------------------------------------


def _resident_values(data: ResidentIn, *, only_given: bool) -> dict[str, Any]:
    values = data.model_dump(mode="json", exclude={"date_of_birth"})
    values["date_of_birth"] = data.date_of_birth
    if not only_given:
        return values
    given = set(data.model_fields_set)
    if "phone" in given:
        given.add("phone_type")
    return {k: v for k, v in values.items() if k in given}


def _apply(row: Resident | Contact | Device, values: dict[str, Any], now: datetime) -> bool:
    """Set changed fields; updated_at moves only when something really changed."""
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    if changed:
        row.updated_at = now
    return changed


def _validate(model: type[_Model], values: dict[str, Any]) -> _Model:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(problems) from exc


async def _contact_by_phone(
    session: AsyncSession, *, resident_id: str, phone: str
) -> Contact | None:
    query = select(Contact).where(
        col(Contact.resident_id) == resident_id, col(Contact.phone) == phone
    )
    return (await session.exec(query)).first()
