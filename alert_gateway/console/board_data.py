"""Rows of the live board: open alerts with resident, escalation progress and who is on them."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..alerts import queries
from ..db.alerts import Alert, AlertStatus
from ..db.auth import Operator
from ..db.escalation import (
    AlertResponder,
    AttemptStatus,
    NotificationAttempt,
    Purpose,
    ResponderState,
    Target,
)
from ..db.residents import Contact, Device, Resident
from ..timefmt import aware

BOARD_LIMIT = 200  # far above a real centre's open alerts; the board must never page
# A pendant moves with the resident: its stored location says nothing about where they are now.
WORN_KINDS = frozenset({"pendant"})
ON_THEIR_WAY = frozenset({ResponderState.ACCEPTED.value, ResponderState.ARRIVED.value})
_HOUSE_NUMBER = re.compile(r"[0-9０-９].*$")
_PREFECTURE = re.compile(r"^.{2,3}?[都道府県](?=.)")


@dataclass
class Progress:
    """One step of an alert's escalation as the board shows it."""

    who: str  # a contact's name, or "" for the resident
    state: str  # a ResponderState value, or an AttemptStatus value for the resident's call


@dataclass
class BoardRow:
    """One open alert on the board."""

    alert: Alert
    resident: Resident | None
    attempts: int = 0
    progress: list[Progress] = field(default_factory=list)
    taken_by_name: str | None = None  # the operator's display name
    room: str | None = None  # where the sensor that raised it is ("台所"); never for a pendant
    on_their_way: list[str] = field(default_factory=list)  # contacts who accepted or arrived

    @property
    def area(self) -> str | None:
        """The resident's area (city and district) without the house number, for a wall display."""
        return address_area(self.resident.address if self.resident else None)

    @property
    def needs_person(self) -> bool:
        """Nobody has taken or acknowledged it, and the resident has not cancelled it."""
        return needs_person(self.alert)

    @property
    def urgent(self) -> bool:
        """A P1 nobody has taken yet: the board sounds until someone does."""
        return (
            self.alert.severity == "P1"
            and self.alert.taken_by is None
            and self.alert.status == AlertStatus.OPEN.value
        )

    def as_json(self) -> dict[str, object]:
        """The row for the JSON endpoint (never the key-safe code or medical notes)."""
        a = self.alert
        return {
            "id": a.id, "type": a.type, "severity": a.severity, "status": a.status,
            "opened_at": _iso(a.opened_at), "taken_by": a.taken_by,
            "taken_by_name": self.taken_by_name, "acknowledged_by": a.acknowledged_by,
            "resident_id": a.resident_id,
            "resident_name": self.resident.name if self.resident else None,
            "device_id": a.device_id, "area": self.area, "room": self.room,
            "on_their_way": self.on_their_way, "needs_person": self.needs_person,
            "attempts": self.attempts, "urgent": self.urgent,
            "progress": [{"who": p.who, "state": p.state} for p in self.progress],
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def needs_person(alert: Alert) -> bool:
    """Open, and neither taken by an operator nor acknowledged by anyone."""
    return (alert.status == AlertStatus.OPEN.value and alert.taken_by is None
            and alert.acknowledged_at is None)


def board_order(alert: Alert) -> tuple[int, str, datetime, int]:
    """Sort key: what still needs a person, then what someone is on, then what the resident
    cancelled (an operator still checks those); within each, by priority then oldest first."""
    if needs_person(alert):
        group = 0
    elif alert.status == AlertStatus.CANCELLED.value:
        group = 2
    else:
        group = 1
    return group, alert.severity, aware(alert.opened_at), alert.id or 0


def address_area(address: str | None) -> str | None:
    """「石川県金沢市広坂1-1-1」 -> 「金沢市広坂」: the prefecture and house number dropped."""
    if not address:
        return None
    area = _HOUSE_NUMBER.sub("", _PREFECTURE.sub("", address.strip(), count=1)).strip(" ,、")
    return area or address


async def operator_names(session: AsyncSession) -> dict[str, str]:
    """Display names by every form an operator appears in on timelines and alerts."""
    names: dict[str, str] = {}
    for operator in (await session.exec(select(Operator))).all():
        shown = operator.display_name or operator.name
        names[operator.name] = shown
        names[f"operator:{operator.name}"] = shown
    return names


async def board_rows(session: AsyncSession) -> list[BoardRow]:
    """Active alerts in `board_order`, with what the board shows about each."""
    active = [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.CANCELLED]
    alerts, _total = await queries.get_all(session, status=active, limit=BOARD_LIMIT)
    if not alerts:
        return []
    alerts.sort(key=board_order)
    ids = [a.id for a in alerts if a.id is not None]
    resident_ids = {a.resident_id for a in alerts if a.resident_id}
    residents = {
        r.id: r for r in (await session.exec(
            select(Resident).where(col(Resident.id).in_(resident_ids))
        )).all()
    }
    device_ids = {a.device_id for a in alerts if a.device_id}
    rooms = {
        d.id: d.location for d in (await session.exec(
            select(Device).where(col(Device.id).in_(device_ids))
        )).all() if d.location and d.kind not in WORN_KINDS
    }
    # Three queries for the whole board instead of three per alert.
    responders: dict[int, list[Progress]] = defaultdict(list)
    rows = await session.exec(
        select(AlertResponder, Contact)
        .join(Contact, col(Contact.id) == col(AlertResponder.contact_id))
        .where(col(AlertResponder.alert_id).in_(ids))
        .order_by(col(Contact.priority), col(Contact.id))
    )
    on_their_way: dict[int, list[str]] = defaultdict(list)
    for responder, contact in rows.all():
        responders[responder.alert_id].append(Progress(contact.name, responder.state))
        if responder.state in ON_THEIR_WAY:
            on_their_way[responder.alert_id].append(contact.name)
    counts: dict[int, int] = defaultdict(int)
    resident_call: dict[int, str] = {}
    attempts = await session.exec(
        select(NotificationAttempt)
        .where(col(NotificationAttempt.alert_id).in_(ids),
               col(NotificationAttempt.purpose) == Purpose.ALERT.value)
        .order_by(col(NotificationAttempt.id))
    )
    for attempt in attempts.all():
        assert attempt.alert_id is not None
        counts[attempt.alert_id] += 1
        if attempt.target == Target.RESIDENT.value:
            # the latest call to the resident, in the resident's words (1 fine, 9 help)
            resident_call[attempt.alert_id] = resident_state(attempt.status)
    names = await operator_names(session)
    board = []
    for alert in alerts:
        assert alert.id is not None
        progress = []
        if alert.id in resident_call:
            progress.append(Progress("", resident_call[alert.id]))
        progress.extend(responders.get(alert.id, []))
        board.append(BoardRow(alert, residents.get(alert.resident_id or ""), counts[alert.id],
                              progress, names.get(alert.taken_by or "", alert.taken_by),
                              rooms.get(alert.device_id or ""), on_their_way.get(alert.id, [])))
    return board


def resident_state(status: str) -> str:
    """A resident's call as the board names it: their 1 is "fine" and 9 "needs help", never the
    contact's "accepted"/"declined" the attempt row records."""
    return {AttemptStatus.ACCEPTED.value: "resident_fine",
            AttemptStatus.DECLINED.value: "resident_help"}.get(status, status)
