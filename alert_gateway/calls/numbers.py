"""Who can be called from an alert, the numbers the system never dials, and the bridge webhooks."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from ..db.residents import Contact, Resident
from ..errors import InvalidInput

# Japan's emergency and coast-guard numbers: an operator dials these from their own phone, so the
# call is theirs, with the caller's location, and never held up behind a bridge.
EMERGENCY = frozenset({"110", "118", "119"})
_DIGITS = re.compile(r"\D")


def is_emergency(number: str, *, region: str = "JP") -> bool:
    """True for 110/118/119 however written (119, +81119, 0119, '1 1 9')."""
    digits = _DIGITS.sub("", number)
    national = digits[2:] if number.strip().startswith("+81") else digits
    national = national.lstrip("0")
    return national in EMERGENCY or phonenumbers.connects_to_emergency_number(national, region)


def phone_to_ring(own: str | None, desk_line: str | None) -> str | None:
    """What click-to-call rings first: the operator's own phone, else the centre's desk line."""
    return own or desk_line


@dataclass(frozen=True)
class Callee:
    """A number on the alert view that has a call button."""

    key: str  # "resident", "gp" or "contact:<id>": what a console call row keeps
    who: str  # the name on the card
    number: str


def callees(resident: Resident | None, contacts: list[Contact]) -> list[Callee]:
    """The resident, each contact and the GP, where a number is on file."""
    if resident is None:
        return []
    found = []
    if resident.phone:
        found.append(Callee("resident", resident.name, resident.phone))
    found.extend(Callee(f"contact:{c.id}", c.name, c.phone) for c in contacts if c.phone)
    if resident.gp_phone:
        found.append(Callee("gp", resident.gp or "GP", resident.gp_phone))
    return found


class CallRefused(InvalidInput):
    """A call the console will not place; `text_key` names the operator's explanation."""

    def __init__(self, message: str, text_key: str) -> None:
        super().__init__(message)
        self.text_key = text_key


def choose(options: list[Callee], key: str) -> Callee:
    """The callee named by a call button; CallRefused for anything else or an emergency number."""
    callee = next((c for c in options if c.key == key), None)
    if callee is None:
        raise CallRefused("there is no such number on this alert", "call.refused.unknown")
    if is_emergency(callee.number):
        raise CallRefused("110/118/119 are never dialled by the system", "call.refused.emergency")
    return callee


def bridge_url(base: str, step: str, call_id: int) -> str:
    """A console call's webhook on our public base (web/bridge_hooks.py answers it)."""
    return f"{base.rstrip('/')}/twilio/bridge/{step}?call={call_id}"
