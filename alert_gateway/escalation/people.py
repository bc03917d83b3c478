"""Who an escalation can reach for a resident: themselves, their active contacts, the centre."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..db.escalation import Target
from ..db.residents import PhoneType
from ..settings import Settings
from .planner_types import Person


class ResidentColumns(Protocol):
    """The resident's columns the planner reads (an ORM row or a Core row)."""

    @property
    def name(self) -> str: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def phone_type(self) -> str: ...
    @property
    def language(self) -> str: ...


class ContactColumns(Protocol):
    """A contact's columns the planner reads (an ORM row or a Core row)."""

    @property
    def id(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def relation(self) -> str: ...
    @property
    def phone(self) -> str: ...
    @property
    def phone_type(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def language(self) -> str: ...
    @property
    def channels(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def sms_opt_out(self) -> bool: ...
    @property
    def line_user_id(self) -> str | None: ...


def _phone_type(value: str) -> PhoneType:
    try:
        return PhoneType(value)
    except ValueError:
        return PhoneType.UNKNOWN


def resident_person(resident: ResidentColumns | None) -> Person | None:
    """The resident as the planner sees them (and the sweep, to know whether they take SMS);
    None without a phone."""
    if resident is None or not resident.phone:
        return None
    return Person(Target.RESIDENT, None, resident.name, resident.phone,
                  _phone_type(resident.phone_type), resident.language)


def people_of(resident: ResidentColumns | None, contacts: Sequence[ContactColumns],
              settings: Settings) -> list[Person]:
    """The resident, their active contacts and the dispatch centre, as the planner sees them."""
    people: list[Person] = []
    myself = resident_person(resident)
    if myself is not None:
        people.append(myself)
    for c in contacts:
        if not c.active:
            continue
        target = Target.DISPATCH if c.relation == "dispatch" else Target.CONTACT
        channels = frozenset(part.strip() for part in c.channels.split(",") if part.strip())
        people.append(Person(target, c.id, c.name, c.phone, _phone_type(c.phone_type), c.language,
                             c.relation, c.priority, channels, c.sms_opt_out, c.line_user_id))
    if settings.dispatch_phone and not any(p.phone == settings.dispatch_phone for p in people):
        people.append(Person(Target.DISPATCH, None, settings.dispatch_name, settings.dispatch_phone,
                             PhoneType.LANDLINE))  # a centre's line: voice, never SMS
    return people
