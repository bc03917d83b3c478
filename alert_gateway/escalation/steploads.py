"""What the planner needs for a whole batch of escalations, loaded in a few set-based queries.

Core rows of the columns used, not ORM objects: a storm's intake loads thousands per batch, and
identity-mapping them (and decrypting each resident's sealed notes) was work nobody read. The
per-resident rate cap is one query for the batch, not one per alert.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
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
    bindparam,
    func,
    literal,
    select,
    union_all,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.inlists import any_of, one_of
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
from ..outbox.claiming import counted_since
from .planner_types import AttemptView
from .policy import Policy
from .steprows import People, StepRows

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
        for row in await _rows(session, _CAPPED_ALERTS, resident_ids=list(capped), since=since):
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


_A, _N = _ALERT.c, _ATTEMPT.c
# Built once, the residents bound as one list (db/inlists.py): an IN of them rendered a new
# SQL text for each batch's count, which asyncpg prepared anew and kept among its 500.
_CAPPED_ALERTS = (select(_A.resident_id, _N.alert_id, _ESCALATION.c.policy,
                         func.max(_N.created_at).label("latest"))
                  .join(_ALERT, _A.id == _N.alert_id)
                  .join(_ESCALATION, _ESCALATION.c.alert_id == _A.id)
                  .where(any_of(_A.resident_id, "resident_ids"), _N.purpose == Purpose.ALERT.value,
                         _N.created_at >= bindparam("since", type_=_N.created_at.type),
                         _N.status.not_in(_NOT_COUNTED))
                  .group_by(_A.resident_id, _N.alert_id, _ESCALATION.c.policy))


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
                      cap_since: datetime | None = None,
                      known: People | None = None) -> StepInputs:
    """Load for these alerts; fills `rows` with responder codes. The rate caps' history is
    loaded next (`CapHistory.load`), once the batch's policies are chosen. `opened`: the columns
    of alerts opened in this transaction, which have no attempts or responders to read yet.
    `cap_since`: where the contact cap's window begins, when the sends are claimed in this
    transaction; its counts for the contacts' numbers go to `rows.cap_counts`. `known`:
    people read earlier in this transaction (with intake's batch of devices)."""
    alerts: dict[int, Any] = {i: opened[i] for i in ids if i in opened}
    ids = [i for i in ids if i not in opened]  # the others: read all they have
    people = await _people(session, {row.resident_id for row in alerts.values() if row.resident_id},
                           alerts, ids, known or People())
    residents, contacts = people.residents, people.contacts
    attempts: dict[int, list[tuple[datetime, AttemptView]]] = defaultdict(list)
    responders: dict[int, dict[int, ResponderState]] = defaultdict(dict)
    if ids:
        for row in await _rows(session, _ATTEMPTS, alert_ids=ids):
            attempts[row.alert_id].append((row.created_at, _view(row)))
    phones = sorted({row.phone for cs in contacts.values() for row in cs})
    counts: dict[str, int] = dict.fromkeys(phones, 0)
    caps = cap_since is not None and bool(phones)
    if ids or phones:
        query = _responders_and_codes(bool(ids), bool(phones), caps)
        params = {"alert_ids": ids, "phones": phones} | (
            {"cap_numbers": phones, "cap_since": cap_since} if caps else {})
        for row in (await session.exec(query, params=params)).all():  # type: ignore[call-overload]
            if row.kind == _RESPONDER_ROW:
                responders[row.alert_id][row.contact_id] = ResponderState(row.state)
                rows.responders[(row.alert_id, row.contact_id)] = row.short_code
            elif row.kind == _CODE_ROW:
                rows.codes[row.phone].append((row.alert_id, row.short_code))
            else:
                counts[row.phone] = row.sent
    if phones:
        rows.cap_counts = counts if caps else None
    return StepInputs(alerts, residents, contacts, attempts, responders, CapHistory())


_RESPONDER_ROW, _CODE_ROW, _SENT_ROW = "responder", "code", "sent"
_MARKED = (("kind", String), ("alert_id", Integer), ("contact_id", Integer), ("state", String),
           ("short_code", String), ("phone", String), ("sent", Integer))


def _marked(kind: str, **columns: Any) -> Select[Any]:
    """A SELECT of the `_MARKED` columns, in that order: those given, NULL for the others."""
    given = {"kind": literal(kind, String), **columns}
    return select(*(given.get(name, literal(None, type_)).label(name) for name, type_ in _MARKED))


@cache
def _responders_and_codes(responders: bool, codes: bool, caps: bool) -> Select[Any] | CompoundSelect:
    """One round trip, each row marked by `kind`: the alerts' responders (`alert_ids`); the short
    codes in use (every open alert the numbers `phones` are responders of, some of them these
    alerts' own); with `caps`, what the contact cap counts for `cap_numbers` since `cap_since`.
    Built once per shape: building it cost more than running it."""
    a, c, e = _ALERT.c, _CONTACT.c, _RESPONDER.c
    parts: list[Select[Any]] = []
    if responders:
        parts.append(_marked(_RESPONDER_ROW, alert_id=e.alert_id, contact_id=e.contact_id,
                             state=e.state, short_code=e.short_code)
                     .where(any_of(e.alert_id, "alert_ids")))
    if codes:
        parts.append(_marked(_CODE_ROW, alert_id=e.alert_id, short_code=e.short_code, phone=c.phone)
                     .join(_CONTACT, c.id == e.contact_id)
                     .join(_ALERT, a.id == e.alert_id)
                     .where(any_of(c.phone, "phones"), one_of(a.status, ACTIVE_STATUSES)))
    if caps:
        sent = counted_since("cap_numbers",
                             bindparam("cap_since")).subquery()
        parts.append(_marked(_SENT_ROW, phone=sent.c.to_number, sent=sent.c.sent))
    return union_all(*parts) if len(parts) > 1 else parts[0]


_ATTEMPTS = (select(*(_ATTEMPT.c[k] for k in (
    "id", "alert_id", "step_index", "round", "target", "contact_id", "to_number", "channel",
    "status", "dial_no", "provider_sid", "created_at")))
    .where(any_of(_ATTEMPT.c.alert_id, "alert_ids"),
           _ATTEMPT.c.purpose == Purpose.ALERT.value))
_ALERT_COLUMNS = ("id", "resident_id", "device_id", "type", "severity", "status",
                  "acknowledged_at")
_RESIDENT_COLUMNS = ("id", "name", "address", "phone", "phone_type", "language")
_CONTACT_COLUMNS = ("id", "resident_id", "name", "relation", "phone", "phone_type", "priority",
                    "language", "channels", "active", "sms_opt_out", "line_user_id")
PEOPLE_COLUMNS = (*(_RESIDENT.c[k].label(f"r_{k}") for k in _RESIDENT_COLUMNS),
                   *(_CONTACT.c[k].label(f"c_{k}") for k in _CONTACT_COLUMNS))
WITH_CONTACTS = _RESIDENT.outerjoin(_CONTACT, _CONTACT.c.resident_id == _RESIDENT.c.id)

# Statements built once, their lists bound at execution: building one cost more than running it.
_PEOPLE = (select(*PEOPLE_COLUMNS).select_from(WITH_CONTACTS)
           .where(any_of(_RESIDENT.c.id, "resident_ids"))
           .order_by(_CONTACT.c.priority, _CONTACT.c.id))
# Alerts with their residents and contacts: the engine's batch reads both in one round trip.
_ALERTS_AND_PEOPLE = (select(*(_ALERT.c[k].label(f"a_{k}") for k in _ALERT_COLUMNS),
                             *PEOPLE_COLUMNS)
                      # joined one after the other: SQLite builds a bracketed resident +
                      # contacts join whole, scanning every resident on each engine batch
                      .select_from(_ALERT.outerjoin(_RESIDENT, _RESIDENT.c.id == _ALERT.c.resident_id)
                                   .outerjoin(_CONTACT, _CONTACT.c.resident_id == _RESIDENT.c.id))
                      .where(any_of(_ALERT.c.id, "alert_ids"))
                      .order_by(_ALERT.c.id, _CONTACT.c.priority, _CONTACT.c.id))


async def _people(session: AsyncSession, resident_ids: set[str], alerts: dict[int, Any],
                  alert_ids: list[int], known: People) -> People:
    """The residents' columns, and their contacts' in call order (those of `known` are not read
    again); with `alert_ids`, those alerts' columns into `alerts` and their residents' too. One
    query each, each resident's columns repeated beside each of their contacts (and an alert's
    beside each of its people)."""
    people = People(dict(known.residents), dict(known.contacts))
    if alert_ids:
        for row in await _rows(session, _ALERTS_AND_PEOPLE, alert_ids=alert_ids):
            m = row._mapping
            if m["a_id"] not in alerts:
                alerts[m["a_id"]] = SimpleNamespace(**{k: m[f"a_{k}"] for k in _ALERT_COLUMNS})
            if m["r_id"] is not None:
                note_person(m, people)
    resident_ids -= people.residents.keys()
    if resident_ids:
        for row in await _rows(session, _PEOPLE, resident_ids=list(resident_ids)):
            note_person(row._mapping, people)
    return people


def note_person(m: RowMapping, people: People) -> None:
    """Add a row of `PEOPLE_COLUMNS` (one that repeats a contact already noted adds nothing)."""
    if m["r_id"] not in people.residents:
        people.residents[m["r_id"]] = SimpleNamespace(**{k: m[f"r_{k}"] for k in _RESIDENT_COLUMNS})
    if m["c_id"] is None:
        return
    contacts = people.contacts.setdefault(m["r_id"], [])
    if any(c.id == m["c_id"] for c in contacts):
        return
    contacts.append(SimpleNamespace(**{k: m[f"c_{k}"] for k in _CONTACT_COLUMNS}))
    if len(contacts) > 1 and (contacts[-2].priority, contacts[-2].id) > (m["c_priority"], m["c_id"]):
        contacts.sort(key=lambda c: (c.priority, c.id))  # rows not in call order (a joined read)


async def _rows(session: AsyncSession, query: Select[Any], **params: Any) -> Sequence[Row[Any]]:
    return (await session.exec(query, params=params)).all()  # type: ignore[call-overload,no-any-return]


def _view(a: Row[Any]) -> AttemptView:
    return AttemptView(a.id, a.step_index or 0, a.round or 0, Target(a.target), a.contact_id,
                       a.to_number, NotifyChannel(a.channel), AttemptStatus(a.status), a.dial_no,
                       has_sid=a.provider_sid is not None)
