"""Residents, their contacts and their devices."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from .sealed import SealedText
from .types import enum_field, utcnow


class Relation(StrEnum):
    """Who a contact is to the resident."""

    FAMILY = "family"
    NEIGHBOUR = "neighbour"  # 協力員
    CARE_MANAGER = "care_manager"
    CONTRACTOR = "contractor"
    DISPATCH = "dispatch"


class PhoneType(StrEnum):
    """SMS is never sent to a landline."""

    MOBILE = "mobile"
    LANDLINE = "landline"
    UNKNOWN = "unknown"


class Resident(SQLModel, table=True):
    """An older person living alone (利用者)."""

    id: str = Field(primary_key=True, max_length=64)
    name: str
    kana: str | None = None
    address: str | None = None
    phone: str | None = None
    phone_type: str = enum_field("unknown")
    language: str = "ja"
    date_of_birth: date | None = None
    medical_notes: str | None = Field(default=None, sa_type=SealedText)  # sealed at rest
    gp: str | None = None  # GP / hospital
    gp_phone: str | None = None  # E.164; called from the console
    oxygen_in_home: bool = False
    bed_bound: bool = False  # 寝たきり: called first in a disaster sweep
    no_nearby_contact: bool = False  # nobody close by to look in: called first in a sweep
    home_care: str | None = None
    property_type: str | None = None
    access_notes: str | None = Field(default=None, sa_type=SealedText)  # sealed at rest
    key_safe_location: str | None = None
    # masked in every view until an operator reveals it (audited); sealed at rest
    key_safe_code: str | None = Field(default=None, sa_type=SealedText)
    risk_notes: str | None = Field(default=None, sa_type=SealedText)  # sealed at rest
    notes: str | None = None
    activity_watch_hours: int | None = None  # 生活リズム window; None = off
    away: bool = False  # pauses the activity watch
    # お元気コール: "weekly mon 10:00-11:00" / "monthly 1 14:00-16:00" (wellbeing/schedule.py)
    wellbeing_schedule: str | None = Field(default=None, max_length=64)
    wellbeing_timezone: str = Field(default="Asia/Tokyo", max_length=64)
    wellbeing_channel: str = enum_field("voice", length=8)
    last_activity_at: datetime | None = None
    # set when the resident sent their link code to the LINE official account (a sweep's
    # message then comes by LINE too); cleared on "block"
    line_user_id: str | None = Field(default=None, max_length=64, index=True)
    active: bool = True
    erased_at: datetime | None = None  # left the service: personal fields gone, alerts still counted
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Contact(SQLModel, table=True):
    """Someone to call for a resident, in priority order."""

    __table_args__ = (UniqueConstraint("resident_id", "phone", name="uq_contact_resident_phone"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: str = Field(foreign_key="resident.id", index=True, max_length=64)
    name: str
    relation: str = enum_field()
    phone: str  # E.164
    phone_type: str = enum_field("unknown")
    priority: int = 1
    language: str = "ja"
    channels: str = "sms,voice"  # comma-separated subset of sms, voice
    availability: str | None = None
    active: bool = True
    sms_opt_out: bool = False  # STOP received from this number
    # set when the contact sent their link code to the LINE official account; cleared on "block"
    line_user_id: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class LineLinkCode(SQLModel, table=True):
    """A one-time code a supervisor hands a contact or a resident (exactly one of the two), who
    sends it to the LINE official account."""

    code_hash: str = Field(primary_key=True, max_length=64)  # sha256 hex: the code is a credential
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    resident_id: str | None = Field(default=None, foreign_key="resident.id", index=True,
                                    max_length=64)
    created_by: str = Field(max_length=120)
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class Device(SQLModel, table=True):
    """A home device that talks the device contract."""

    id: str = Field(primary_key=True, max_length=64)
    kind: str = "pendant"
    resident_id: str | None = Field(default=None, foreign_key="resident.id", index=True)
    location: str | None = None
    heartbeat_interval: int = 300  # seconds
    last_seen_at: datetime | None = None
    battery: int | None = None
    firmware: str | None = None
    online: bool = True
    last_test_at: datetime | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
