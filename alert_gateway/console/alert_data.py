"""Everything the alert view shows, loaded in one session (read only)."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from ..alerts import queries
from ..calls.numbers import Callee, callees, is_emergency
from ..db.alerts import Alert, AlertEvent
from ..db.escalation import Escalation, NotificationAttempt, Target
from ..db.residents import Contact, Device, Resident
from ..i18n import t
from ..i18n.said import stored
from ..residents import service as residents
from ..timefmt import age_on, aware
from .board_data import operator_names

log = logging.getLogger(__name__)


@dataclass
class ContactLine:
    """A contact with their state on this alert and every attempt made to reach them."""

    contact: Contact
    state: str | None
    attempts: list[NotificationAttempt] = field(default_factory=list)


@dataclass
class AlertPage:
    """The alert, the resident's card and the case so far."""

    alert: Alert
    resident: Resident | None
    age: int | None
    map_url: str | None
    device: Device | None
    devices: list[Device]
    contacts: list[ContactLine]
    other_attempts: list[NotificationAttempt]  # to the resident and the dispatch centre
    timeline: list[AlertEvent]
    earlier: list[Alert]
    escalation: Escalation | None
    # people by the references timelines use: "operator:<name>" and "<name>" -> display name,
    # "contact:<id>" -> the contact's name, "resident" -> the resident's name
    names: dict[str, str]
    callable: dict[str, Callee] = field(default_factory=dict)  # call buttons, by callee key

    def who(self, actor: str | None, lang: str) -> str:
        """A timeline actor as people read it: by name, or a word of the reader's language."""
        if not actor:
            return ""
        return self.names_in(lang).get(actor) or _device_or_raw(actor, lang)

    def text(self, event: AlertEvent, lang: str) -> str:
        """A timeline entry in the reader's language; an entry from before message keys as stored."""
        said = stored(event.data)
        if said is None:
            return event.message
        try:
            return said.render(lang, self.names_in(lang))
        except (KeyError, IndexError):  # a key since renamed, or its parameters changed
            log.warning("timeline text not renderable", extra={"key": said.key, "event_id": event.id})
            return event.message

    def names_in(self, lang: str) -> dict[str, str]:
        """Every reference this page can name, with the words for system actors in `lang`."""
        words = {ref: t(lang, f"who.{word}") for ref, word in _SYSTEM_ACTORS.items()}
        return words | self.names


# Actors that are not people: shown as a word of the reader's language.
_SYSTEM_ACTORS = {"system": "system", "system:supervision": "system", "dispatch": "dispatch",
                  "resident": "resident", "wellbeing": "wellbeing", "sweep": "sweep"}


def _device_or_raw(actor: str, lang: str) -> str:
    if actor.startswith("device:"):
        return t(lang, "who.device", device=actor.removeprefix("device:"))
    return actor


def people_names(resident: Resident | None, contacts: list[ContactLine]) -> dict[str, str]:
    """The resident and their contacts by the references timeline texts and actors use."""
    names = {f"contact:{line.contact.id}": line.contact.name for line in contacts}
    if resident is not None:
        names["resident"] = names[f"resident:{resident.id}"] = resident.name
    return names


def map_link(address: str | None) -> str | None:
    """A map search for the address (opens in the operator's map app on a tablet)."""
    if not address:
        return None
    return f"https://www.google.com/maps/search/?api=1&query={quote_plus(address)}"


async def load(session: AsyncSession, *, alert_id: int, zone: str, today: date | None = None,
               ) -> AlertPage:
    """The alert view's data; NotFound when the alert does not exist."""
    alert = await queries.get(session, alert_id=alert_id)
    resident = await session.get(Resident, alert.resident_id) if alert.resident_id else None
    devices = await residents.devices_for(session, resident_id=resident.id) if resident else []
    device = await session.get(Device, alert.device_id) if alert.device_id else None
    contacts = (await residents.contacts_for(session, resident_id=resident.id)
                if resident else [])
    states = {c.id: r.state for r, c in await queries.responders_for(session, alert_id=alert_id)}
    attempts = await queries.attempts_for(session, alert_id=alert_id)
    by_contact: dict[int, list[NotificationAttempt]] = defaultdict(list)
    others = []
    for attempt in attempts:
        if attempt.target == Target.CONTACT.value and attempt.contact_id is not None:
            by_contact[attempt.contact_id].append(attempt)
        else:
            others.append(attempt)
    lines = [ContactLine(c, states.get(c.id), by_contact.get(c.id or 0, [])) for c in contacts]
    known = {c.id for c in contacts}
    # A contact deactivated after being called still belongs on this case.
    for contact_id, rows in by_contact.items():
        if contact_id not in known and (gone := await session.get(Contact, contact_id)):
            lines.append(ContactLine(gone, states.get(contact_id), rows))
    earlier = []
    if resident is not None:
        history = await queries.history_for_resident(session, resident_id=resident.id, limit=21)
        earlier = [a for a in history if a.id != alert.id][:20]
    local_today = today or aware(alert.opened_at).astimezone(ZoneInfo(zone)).date()
    return AlertPage(
        alert=alert, resident=resident,
        age=age_on(resident.date_of_birth, local_today) if resident else None,
        map_url=map_link(resident.address) if resident else None,
        device=device, devices=devices, contacts=lines, other_attempts=others,
        timeline=await queries.timeline(session, alert_id=alert_id), earlier=earlier,
        escalation=await session.get(Escalation, alert_id),
        names=await operator_names(session) | people_names(resident, lines),
        callable={c.key: c for c in callees(resident, contacts) if not is_emergency(c.number)},
    )

