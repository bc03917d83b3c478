"""What the API, the console and the import accept for residents, contacts and devices."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..db.residents import PhoneType, Relation
from ..db.wellbeing import WellbeingChannel
from ..errors import InvalidInput
from ..validation import text_problem
from ..wellbeing import schedule
from .phones import normalize_phone


class DeviceKind(StrEnum):
    """Home devices the device contract knows (the simulator maps each to its alarm types)."""

    PENDANT = "pendant"
    BASE_UNIT = "base_unit"
    PULL_CORD = "pull_cord"
    FALL_DETECTOR = "fall_detector"
    SMOKE_DETECTOR = "smoke_detector"
    HEAT_DETECTOR = "heat_detector"
    CO_DETECTOR = "co_detector"
    GAS_DETECTOR = "gas_detector"
    FLOOD_DETECTOR = "flood_detector"
    TEMPERATURE_SENSOR = "temperature_sensor"
    DOOR_SENSOR = "door_sensor"
    MOTION_SENSOR = "motion_sensor"
    BED_SENSOR = "bed_sensor"
    PILL_DISPENSER = "pill_dispenser"


CHANNELS = ("sms", "voice")  # NotifyChannel values, in the order they are written back

# Spreadsheets are typed by city staff: accept the common spellings and the Japanese terms.
_RELATION_ALIASES = {
    "neighbor": Relation.NEIGHBOUR,
    "家族": Relation.FAMILY,
    "親族": Relation.FAMILY,
    "協力員": Relation.NEIGHBOUR,
    "近隣協力員": Relation.NEIGHBOUR,
    "care manager": Relation.CARE_MANAGER,
    "ケアマネ": Relation.CARE_MANAGER,
    "ケアマネジャー": Relation.CARE_MANAGER,
    "ケアマネージャー": Relation.CARE_MANAGER,
    "業者": Relation.CONTRACTOR,
}
_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
_LANGUAGE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
_SLASH_DATE = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")


def _phone_error(exc: InvalidInput) -> PydanticCustomError:
    return PydanticCustomError("phone", str(exc))


class _Input(BaseModel):
    """Strict input: unknown fields are typos, blank cells mean "not given"."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _blanks(cls, data: Any) -> Any:
        # A blank optional field clears it; a blank field with a default keeps the default,
        # and a blank required field is reported as missing.
        if not isinstance(data, dict):
            return data
        out = {}
        for key, value in data.items():
            if isinstance(value, str) and (problem := text_problem(value)) is not None:
                raise ValueError(f"{key}: text {problem}")  # files and forms alike (validation.py)
            if isinstance(value, str) and not value.strip():
                value = None
            field = cls.model_fields.get(key)
            if value is None and field is not None and field.default is not None:
                continue
            out[key] = value
        return out


class _PhoneFields(_Input):
    """A phone normalized to E.164; a given phone_type wins, else the numbering plan decides."""

    @field_validator("phone", "gp_phone", check_fields=False)
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalize_phone(value)[0]
        except InvalidInput as exc:
            raise _phone_error(exc) from exc

    @field_validator("phone_type", check_fields=False)
    @classmethod
    def _derive_type(cls, value: PhoneType | None, info: ValidationInfo) -> PhoneType | None:
        if value is not None:
            return value
        phone = info.data.get("phone")
        return normalize_phone(phone)[1] if phone else PhoneType.UNKNOWN


class ResidentIn(_PhoneFields):
    """A resident as created, edited or imported."""

    id: str = Field(min_length=1, max_length=64, pattern=_ID)
    name: str = Field(min_length=1)
    kana: str | None = None
    address: str | None = None
    phone: str | None = None
    phone_type: PhoneType | None = Field(default=None, validate_default=True)
    language: str = Field(default="ja", pattern=_LANGUAGE)
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
    key_safe_code: str | None = Field(default=None, repr=False)  # never in logs or reprs
    risk_notes: str | None = None
    notes: str | None = None
    activity_watch_hours: int | None = Field(default=None, ge=1, le=168)
    away: bool = False
    active: bool = True
    # お元気コール: "weekly mon 10:00-11:00" or "monthly 1 14:00-16:00" (blank: no calls)
    wellbeing_schedule: str | None = None
    wellbeing_timezone: str = "Asia/Tokyo"
    wellbeing_channel: WellbeingChannel = WellbeingChannel.VOICE

    @field_validator("wellbeing_schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        try:
            return schedule.normalize(value)
        except InvalidInput as exc:
            raise PydanticCustomError("wellbeing_schedule", str(exc)) from exc

    @field_validator("wellbeing_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            return schedule.zone(value).key
        except InvalidInput as exc:
            raise PydanticCustomError("wellbeing_timezone", str(exc)) from exc

    @field_validator("date_of_birth", mode="before")
    @classmethod
    def _slash_date(cls, value: Any) -> Any:
        # Japanese Excel writes dates as 1941/04/12.
        if isinstance(value, str) and (m := _SLASH_DATE.match(value.strip())):
            return f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}"
        return value


class ContactIn(_PhoneFields):
    """A person to call for a resident."""

    name: str = Field(min_length=1)
    relation: Relation
    phone: str
    phone_type: PhoneType | None = Field(default=None, validate_default=True)
    priority: int = Field(default=1, ge=1, le=99)
    language: str = Field(default="ja", pattern=_LANGUAGE)
    channels: str | None = Field(default=None, validate_default=True)
    availability: str | None = None
    active: bool = True

    @field_validator("relation", mode="before")
    @classmethod
    def _relation_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            key = value.strip().lower()
            return _RELATION_ALIASES.get(key, key.replace(" ", "_").replace("-", "_"))
        return value

    @field_validator("channels", mode="before")
    @classmethod
    def _channels(cls, value: Any, info: ValidationInfo) -> str:
        phone_type = info.data.get("phone_type")
        landline = phone_type == PhoneType.LANDLINE
        if value is None:
            return "voice" if landline else ",".join(CHANNELS)
        items = value if isinstance(value, list | tuple) else re.split(r"[,\s、/]+", str(value))
        wanted = {str(item).strip().lower() for item in items if str(item).strip()}
        unknown = wanted - set(CHANNELS)
        if unknown or not wanted:
            raise PydanticCustomError(
                "channels",
                "channels must be sms, voice or sms,voice (got {got})",
                {"got": repr(value)},
            )
        if landline and "sms" in wanted:
            raise PydanticCustomError(
                "channels", "a landline cannot receive SMS; use channels: voice"
            )
        return ",".join(c for c in CHANNELS if c in wanted)


class DeviceIn(_Input):
    """A home device as registered or imported."""

    id: str = Field(min_length=1, max_length=64, pattern=_ID)
    kind: DeviceKind = DeviceKind.PENDANT
    location: str | None = None
    # Battery sensors may report only once a day (DOMAIN.md: up to ~25 h).
    heartbeat_interval: int = Field(default=300, ge=10, le=26 * 3600)
    active: bool = True


class ResidentImport(ResidentIn):
    """A resident with the contacts and devices that belong to them (one import record)."""

    contacts: list[ContactIn] = Field(default_factory=list)
    devices: list[DeviceIn] = Field(default_factory=list)

    def resident(self) -> ResidentIn:
        """The resident fields alone, keeping which ones the file actually gave."""
        given = self.model_fields_set - {"contacts", "devices"}
        values = {name: getattr(self, name) for name in ResidentIn.model_fields}
        return ResidentIn.model_construct(_fields_set=given, **values)


class ResidentUpdate(BaseModel):
    """A partial change to a resident: only the fields given are changed."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    kana: str | None = None
    address: str | None = None
    phone: str | None = None
    phone_type: PhoneType | None = None
    language: str | None = None
    date_of_birth: date | None = None
    medical_notes: str | None = None
    gp: str | None = None
    gp_phone: str | None = None
    oxygen_in_home: bool | None = None
    bed_bound: bool | None = None
    no_nearby_contact: bool | None = None
    home_care: str | None = None
    property_type: str | None = None
    access_notes: str | None = None
    key_safe_location: str | None = None
    key_safe_code: str | None = Field(default=None, repr=False)
    risk_notes: str | None = None
    notes: str | None = None
    activity_watch_hours: int | None = None
    away: bool | None = None
    active: bool | None = None
    wellbeing_schedule: str | None = None
    wellbeing_timezone: str | None = None
    wellbeing_channel: WellbeingChannel | None = None


class ContactUpdate(BaseModel):
    """A partial change to a contact: only the fields given are changed."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    relation: str | None = None
    phone: str | None = None
    phone_type: PhoneType | None = None
    priority: int | None = None
    language: str | None = None
    channels: str | None = None
    availability: str | None = None
    active: bool | None = None
