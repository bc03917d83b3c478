"""What the planner needs for a whole batch of escalations, loaded in a few set-based queries.

Core rows of the columns used, not ORM objects: a storm's intake loads thousands per batch, and
identity-mapping them (and decrypting each resident's sealed notes) was work nobody read. The
per-resident rate cap is one query for the batch, not one per alert.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Integer,
    Row,
    RowMapping,
    Select,
    String,
    Table,
    func,
    literal,
    select,
    union_all,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import (
    ACTIVE_STATUSES,
    Alert,
    AlertResponder,
    AttemptStatus,
    Contact,
    Escalation,
    NotificationAttempt,
    NotifyChannel,
    Purpose,
    Resident,
    ResponderState,
    Target,
)
from .planner_types import AttemptView
from .policy import Policy
from .steprows import StepRows

_ALERT: Table = Alert.__table__  # type: ignore[attr-defined]
_RESIDENT: Table = Resident.__table__  # type: ignore[attr-defined]
_CONTACT: Table = Contact.__table__  # type: ignore[attr-defined]
_ATTEMPT: Table = NotificationAttempt.__table__  # type: ignore[attr-defined]
_RESPONDER: Table = AlertResponder.__table__  # type: ignore[attr-defined]
_ESCALATION: Table = Escalation.__table__  # type: ignore[attr-defined]
_NOT_COUNTED = [AttemptStatus.SKIPPED.value, AttemptStatus.CANCELED.value]


@dataclass
class CapHistory:
    """Alerts that notified a resident's people recently, for the per-resident rate cap: each
    alert's policy and its latest counted attempt. The batch's own plans are added as they go."""

    alerts: defaultdict[str, dict[int, tuple[str, datetime]]] = field(
        default_factory=lambda: defaultdict(dict))

    async def load(self, session: AsyncSession, capped: dict[str, datetime]) -> None:
        """One query for every capped resident of the batch (`capped`: how far back each one's
        window reaches): their alerts with counted attempts."""
        if not capped:
            return
        since = min(capped.values())
        a, n = _ALERT.c, _ATTEMPT.c
        latest = func.max(n.created_at).label("latest")
        for row in await _rows(session, (
                select(a.resident_id, n.alert_id, _ESCALATION.c.policy, latest)
                .join(_ALERT, a.id == n.alert_id)
                .join(_ESCALATION, _ESCALATION.c.alert_id == a.id)
                .where(a.resident_id.in_(capped), n.purpose == Purpose.ALERT.value,
                       n.created_at >= since, n.status.not_in(_NOT_COUNTED))
                .group_by(a.resident_id, n.alert_id, _ESCALATION.c.policy))):
            at = row.latest if row.latest.tzinfo else row.latest.replace(tzinfo=since.tzinfo)  # SQLite
            self.alerts[row.resident_id][row.alert_id] = (row.policy, at)

    def recent(self, resident_id: str, policy: Policy, policy_of: dict[int, str], *,
               now: datetime) -> int:
        """Alerts of this policy that notified this resident since the cap window began;
        `policy_of` gives the batch's escalations' policies as they stand now."""
        since = now - timedelta(hours=policy.resident_cap_hours)
        return sum(1 for alert_id, (stored, at) in self.alerts[resident_id].items()
                   if policy_of.get(alert_id, stored) == policy.name and at >= since)

    def note(self, resident_id: str, alert_id: int, policy: str, *, now: datetime) -> None:
        """This alert's step just notified the resident's people."""
        self.alerts[resident_id][alert_id] = (policy, now)


@dataclass
class StepInputs:
    """Rows of one batch, by alert, resident or phone."""

    alerts: dict[int, Any]  # Core rows, or an opened alert's columns
    residents: dict[str, SimpleNamespace]
    contacts: dict[str, list[SimpleNamespace]]
    attempts: dict[int, list[tuple[datetime, AttemptView]]]  # ALERT attempts with their creation
    responders: dict[int, dict[int, ResponderState]]
    caps: CapHistory


async def load_inputs(session: AsyncSession, ids: Sequence[int], *, rows: StepRows,
                      opened: Mapping[int, Any],
                      caps: Callable[[Collection[str]], Select[Any]] | None = None) -> StepInputs:
    """Load for these alerts; fills `rows` with responder codes. The rate caps' history is
    loaded next (`CapHistory.load`), once the batch's policies are chosen. `opened`: the columns
    of alerts opened in this transaction, which have no attempts or responders to read yet.
    `caps`: the contact cap's count query (`claiming.cap_counts`) when the sends are claimed in
    this transaction; its counts for the contacts' numbers go to `rows.cap_counts`."""
    a, c, n, e = _ALERT.c, _CONTACT.c, _ATTEMPT.c, _RESPONDER.c
    alerts: dict[int, Any] = {i: opened[i] for i in ids if i in opened}
    ids = [i for i in ids if i not in opened]  # the others: read all they have
    residents, contacts = await _people(
        session, {row.resident_id for row in alerts.values() if row.resident_id}, alerts, ids)
    attempts: dict[int, list[tuple[datetime, AttemptView]]] = defaultdict(list)
    responders: dict[int, dict[int, ResponderState]] = defaultdict(dict)
    if ids:
        for row in await _rows(session, select(
                n.id, n.alert_id, n.step_index, n.round, n.target, n.contact_id, n.to_number,
                n.channel, n.status, n.dial_no, n.provider_sid, n.created_at)
                .where(n.alert_id.in_(ids), n.purpose == Purpose.ALERT.value)):
            attempts[row.alert_id].append((row.created_at, _view(row)))
        for row in await _rows(session, select(e.alert_id, e.contact_id, e.state, e.short_code)
                               .where(e.alert_id.in_(ids))):
            responders[row.alert_id][row.contact_id] = ResponderState(row.state)
            rows.responders[(row.alert_id, row.contact_id)] = row.short_code
    phones = {row.phone for cs in contacts.values() for row in cs}
    if phones:  # short codes in use: every open alert these numbers are responders of
        codes = (select(c.phone, e.alert_id, e.short_code, literal(None, Integer).label("sent"))
                 .join(_CONTACT, c.id == e.contact_id)
                 .join(_ALERT, a.id == e.alert_id)
                 .where(c.phone.in_(phones), a.status.in_(ACTIVE_STATUSES)))
        counts: dict[str, int] = dict.fromkeys(phones, 0)
        query: Select[Any] | CompoundSelect = codes
        if caps is not None:  # and what the contact cap counts, in the same round trip
            sent = caps(phones).subquery()
            query = union_all(codes, select(sent.c.to_number, literal(None, Integer),
                                            literal(None, String), sent.c.sent))
        for row in (await session.exec(query)).all():  # type: ignore[call-overload]
            if row.sent is None:
                rows.codes[row.phone].append((row.alert_id, row.short_code))
            else:
                counts[row.phone] = row.sent
        rows.cap_counts = counts if caps is not None else None
    return StepInputs(alerts, residents, contacts, attempts, responders, CapHistory())


_ALERT_COLUMNS = ("id", "resident_id", "device_id", "type", "severity", "status",
                  "acknowledged_at")
_RESIDENT_COLUMNS = ("id", "name", "address", "phone", "phone_type", "language")
_CONTACT_COLUMNS = ("id", "resident_id", "name", "relation", "phone", "phone_type", "priority",
                    "language", "channels", "active", "sms_opt_out", "line_user_id")
_PEOPLE_COLUMNS = (*(_RESIDENT.c[k].label(f"r_{k}") for k in _RESIDENT_COLUMNS),
                   *(_CONTACT.c[k].label(f"c_{k}") for k in _CONTACT_COLUMNS))
_WITH_CONTACTS = _RESIDENT.outerjoin(_CONTACT, _CONTACT.c.resident_id == _RESIDENT.c.id)
_PEOPLE = (select(*_PEOPLE_COLUMNS).select_from(_WITH_CONTACTS)
           .order_by(_CONTACT.c.priority, _CONTACT.c.id))
# Alerts with their residents and contacts: the engine's batch reads both in one round trip.
_ALERTS_AND_PEOPLE = (select(*(_ALERT.c[k].label(f"a_{k}") for k in _ALERT_COLUMNS),
                             *_PEOPLE_COLUMNS)
                      .select_from(_ALERT.outerjoin(_WITH_CONTACTS,
                                                    _RESIDENT.c.id == _ALERT.c.resident_id))
                      .order_by(_ALERT.c.id, _CONTACT.c.priority, _CONTACT.c.id))


async def _people(session: AsyncSession, resident_ids: set[str], alerts: dict[int, Any],
                  alert_ids: list[int]) -> tuple[
        dict[str, SimpleNamespace], dict[str, list[SimpleNamespace]]]:
    """The residents' columns, and their contacts' in call order; with `alert_ids`, those
    alerts' columns into `alerts` and their residents' too. One query each, each resident's
    columns repeated beside each of their contacts (and an alert's beside each of its people)."""
    residents: dict[str, SimpleNamespace] = {}
    contacts: dict[str, list[SimpleNamespace]] = defaultdict(list)
    if alert_ids:
        read_with: dict[str, int] = {}  # resident: the alert whose rows hold their contacts
        for row in await _rows(session, _ALERTS_AND_PEOPLE.where(_ALERT.c.id.in_(alert_ids))):
            m = row._mapping
            if m["a_id"] not in alerts:
                alerts[m["a_id"]] = SimpleNamespace(**{k: m[f"a_{k}"] for k in _ALERT_COLUMNS})
            if m["r_id"] is not None and read_with.setdefault(m["r_id"], m["a_id"]) == m["a_id"]:
                _note_person(m, residents, contacts)
    resident_ids -= residents.keys()
    if resident_ids:
        for row in await _rows(session, _PEOPLE.where(_RESIDENT.c.id.in_(resident_ids))):
            _note_person(row._mapping, residents, contacts)
    return residents, contacts


def _note_person(m: RowMapping, residents: dict[str, SimpleNamespace],
                 contacts: dict[str, list[SimpleNamespace]]) -> None:
    if m["r_id"] not in residents:
        residents[m["r_id"]] = SimpleNamespace(**{k: m[f"r_{k}"] for k in _RESIDENT_COLUMNS})
    if m["c_id"] is not None:
        contacts[m["r_id"]].append(SimpleNamespace(**{k: m[f"c_{k}"] for k in _CONTACT_COLUMNS}))


async def _rows(session: AsyncSession, query: Select[Any]) -> Sequence[Row[Any]]:
    return (await session.exec(query)).all()  # type: ignore[call-overload,no-any-return]


def _view(a: Row[Any]) -> AttemptView:
    return AttemptView(a.id, a.step_index or 0, a.round or 0, Target(a.target), a.contact_id,
                       a.to_number, NotifyChannel(a.channel), AttemptStatus(a.status), a.dial_no,
                       has_sid=a.provider_sid is not None)
