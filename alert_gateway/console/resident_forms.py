"""HTML form values to the residents schemas (blank means "not given"; checkboxes are booleans)."""

from __future__ import annotations

from typing import Any

from multidict import MultiDictProxy
from pydantic import ValidationError

from ..errors import InvalidInput
from ..residents.schemas import ContactIn, ContactUpdate, DeviceIn, ResidentIn, ResidentUpdate

Form = MultiDictProxy[Any]

RESIDENT_TEXT = ("name", "kana", "address", "phone", "language", "date_of_birth", "medical_notes",
                 "gp", "gp_phone", "home_care", "property_type", "access_notes",
                 "key_safe_location", "risk_notes", "notes", "activity_watch_hours",
                 "wellbeing_schedule", "wellbeing_timezone", "wellbeing_channel")
DEFAULTED = ("language", "wellbeing_timezone", "wellbeing_channel")  # blank keeps the stored value
RESIDENT_FLAGS = ("oxygen_in_home", "bed_bound", "no_nearby_contact", "away")
CONTACT_TEXT = ("name", "relation", "phone", "priority", "language", "channels", "availability")
DEVICE_TEXT = ("id", "kind", "location", "heartbeat_interval")


def _values(form: Form, names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = form.get(name)
        if isinstance(value, str):
            out[name] = value.strip() or None
    return out


def _problems(exc: ValidationError) -> InvalidInput:
    text = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return InvalidInput(text)


def resident_in(form: Form) -> ResidentIn:
    """A new resident from the form."""
    values = _values(form, ("id", *RESIDENT_TEXT, "key_safe_code"))
    values |= {flag: form.get(flag) == "1" for flag in RESIDENT_FLAGS}
    try:
        return ResidentIn.model_validate(values)
    except ValidationError as exc:
        raise _problems(exc) from exc


def resident_update(form: Form) -> ResidentUpdate:
    """Changes to a resident; a blank key-safe code keeps the stored one (it is never shown)."""
    values = _values(form, RESIDENT_TEXT)
    values |= {flag: form.get(flag) == "1" for flag in RESIDENT_FLAGS}
    code = form.get("key_safe_code")
    if isinstance(code, str) and code.strip():
        values["key_safe_code"] = code.strip()
    elif form.get("clear_key_safe_code") == "1":
        values["key_safe_code"] = None
    for name in DEFAULTED:
        if values.get(name) is None:
            values.pop(name, None)
    try:
        return ResidentUpdate.model_validate(values)
    except ValidationError as exc:
        raise _problems(exc) from exc


def contact_in(form: Form) -> ContactIn:
    """A new contact from the form."""
    try:
        return ContactIn.model_validate(_values(form, CONTACT_TEXT))
    except ValidationError as exc:
        raise _problems(exc) from exc


def contact_update(form: Form) -> ContactUpdate:
    """Changes to a contact (blank fields other than availability keep their value)."""
    values = {k: v for k, v in _values(form, CONTACT_TEXT).items()
              if v is not None or k == "availability"}
    try:
        return ContactUpdate.model_validate(values)
    except ValidationError as exc:
        raise _problems(exc) from exc


def device_in(form: Form) -> DeviceIn:
    """A device registration from the form."""
    values = _values(form, DEVICE_TEXT) | {"active": form.get("active", "1") == "1"}
    try:
        return DeviceIn.model_validate(values)
    except ValidationError as exc:
        raise _problems(exc) from exc
