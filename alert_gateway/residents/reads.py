"""What the API and console show of residents, contacts and devices (never a key-safe code)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from ..db.residents import PhoneType, Relation
from ..db.wellbeing import WellbeingChannel


class ResidentRead(BaseModel):
    """A resident as operators see it: never the key-safe code, only whether there is one."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    kana: str | None = None
    address: str | None = None
    phone: str | None = None
    phone_type: PhoneType = PhoneType.UNKNOWN
    language: str = "ja"
    date_of_birth: date | None = None
    medical_notes: str | None = None
    gp: str | None = None
    gp_phone: str | None = None
    oxygen_in_home: bool = False
    bed_bound: bool = False
    no_nearby_contact: bool = False
    home_care: str | None = None
    property_type: str | None = None
    access_notes: str | None = None
    key_safe_location: str | None = None
    has_key_safe_code: bool = False
    risk_notes: str | None = None
    notes: str | None = None
    activity_watch_hours: int | None = None
    away: bool = False
    last_activity_at: datetime | None = None
    active: bool = True
    wellbeing_schedule: str | None = None
    wellbeing_timezone: str = "Asia/Tokyo"
    wellbeing_channel: WellbeingChannel = WellbeingChannel.VOICE
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _mask_key_safe(cls, data: Any) -> Any:
        # The code is revealed only by the audited reveal call; drop it whatever the source is.
        if isinstance(data, dict):
            values = dict(data)
            code = values.pop("key_safe_code", None)
        else:
            values = {n: getattr(data, n) for n in cls.model_fields if hasattr(data, n)}
            code = getattr(data, "key_safe_code", None)
        values.setdefault("has_key_safe_code", bool(code))
        return values


class ContactRead(BaseModel):
    """A contact as shown to operators."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    resident_id: str
    name: str
    relation: Relation
    phone: str
    phone_type: PhoneType
    priority: int
    language: str
    channels: str
    availability: str | None = None
    active: bool
    sms_opt_out: bool
    created_at: datetime
    updated_at: datetime


class DeviceRead(BaseModel):
    """A device with its supervision state."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    resident_id: str | None = None
    location: str | None = None
    heartbeat_interval: int
    last_seen_at: datetime | None = None
    battery: int | None = None
    firmware: str | None = None
    online: bool
    last_test_at: datetime | None = None
    active: bool
    created_at: datetime
    updated_at: datetime
