"""The rows a batch of escalation steps writes, as plain column values: one statement per table.

A storm's intake plans thousands of first steps in the transaction that stores them. Building an
ORM object for every attempt, timeline entry, answer link and responder cost ≈ 0.1 ms each and
was most of the storing transaction; here they are values, inserted with one executemany per
table, and the escalations' new state with one UPDATE executemany.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from string import ascii_uppercase
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import (
    AlertEvent,
    AlertResponder,
    AnswerLink,
    AttemptStatus,
    Escalation,
    InboundMessage,
    NotificationAttempt,
    ResponderState,
)
from ..i18n.said import Said
from .hooks import FOLLOW_PLAN, OPEN_STATES, PLANNED_COLUMNS
from .planner_types import Person
from .steprows_pg import write_together


@dataclass(slots=True)
class NewAttempt:
    """An outbox row planned by a step, not written yet (claiming may change its status)."""

    alert_id: int
    step_index: int
    round: int
    target: str
    contact_id: int | None
    to_number: str
    channel: str
    purpose: str
    priority: int
    dial_no: int
    body: str
    created_at: datetime
    not_before: datetime
    status: str = AttemptStatus.PENDING.value
    deadline_at: datetime | None = None
    retries: int = 0

    def values(self) -> dict[str, Any]:
        """Its columns (`dataclasses.asdict` deep-copies every value: ten times slower)."""
        return {f: getattr(self, f) for f in _FIELDS}

    def key(self) -> tuple[object, ...]:
        """What makes each send distinct within one batch's plans (matches RETURNING rows)."""
        return (self.alert_id, self.channel, self.to_number, self.purpose, self.step_index,
                self.round, self.dial_no)

    def held(self, attempt_id: int) -> NotificationAttempt:
        """The written row as the dispatcher reads it: a detached value, never added to a session
        (built without ORM state: a sixth of the cost of the ORM constructor)."""
        return NotificationAttempt.model_construct(id=attempt_id, **self.values())


_FIELDS = tuple(f.name for f in fields(NewAttempt))
# Marks some of the attempts just planned SENDING under a lease (intake); returns those.
Claim = Callable[[AsyncSession, list[NewAttempt]], Awaitable[list[NewAttempt]]]

_ATTEMPT: Table = NotificationAttempt.__table__  # type: ignore[attr-defined]
_RESPONDER: Table = AlertResponder.__table__  # type: ignore[attr-defined]
_LINK: Table = AnswerLink.__table__  # type: ignore[attr-defined]
_EVENT: Table = AlertEvent.__table__  # type: ignore[attr-defined]
_ESCALATION: Table = Escalation.__table__  # type: ignore[attr-defined]
_INBOUND: Table = InboundMessage.__table__  # type: ignore[attr-defined]
# A claimed message's alert, once it is routed (rows {"b_id", "b_alert_id"}); an executemany
FILL_INBOUND = update(_INBOUND).where(_INBOUND.c.id == bindparam("b_id")).values(
    alert_id=bindparam("b_alert_id"))
_KEY_COLUMNS = ("alert_id", "channel", "to_number", "purpose", "step_index", "round", "dial_no")
# built once: constructing a statement per batch cost about as much as a small batch's executing it
_INSERTS = {t.name: insert(t) for t in (_ATTEMPT, _RESPONDER, _LINK, _EVENT, _ESCALATION)}
_INSERT_ATTEMPTS_RETURNING = insert(_ATTEMPT).returning(
    _ATTEMPT.c.id, *(_ATTEMPT.c[c] for c in _KEY_COLUMNS))


@dataclass
class People:
    """Residents' columns and their contacts' in call order, by resident id (`steploads`)."""

    residents: dict[str, SimpleNamespace] = field(default_factory=dict)
    contacts: dict[str, list[SimpleNamespace]] = field(default_factory=dict)


@dataclass
class OpenedRows:
    """Alerts opened in this transaction, their escalation and first timeline rows not written
    yet: intake writes them with its step's rows (the escalation already carrying its first step),
    and reads nothing back about them (no attempts or responders can exist yet)."""

    alerts: dict[int, SimpleNamespace] = field(default_factory=dict)  # id -> the alert's columns
    escalations: dict[int, dict[str, Any]] = field(default_factory=dict)  # `hooks.escalation_values`
    entries: list[dict[str, Any]] = field(default_factory=list)  # `opening.opened_entries`
    routed: list[dict[str, Any]] = field(default_factory=list)  # `FILL_INBOUND` rows
    people: People = field(default_factory=People)  # read with the batch's devices: not again

    def due(self, now: datetime) -> list[SimpleNamespace]:
        """Their escalations due now (all of them: a fresh one is due at once, or guarded)."""
        return [SimpleNamespace(**e) for e in self.escalations.values()
                if e["state"] in OPEN_STATES and e["next_due_at"] <= now]


@dataclass
class StepRows:
    """A batch's responder codes (loaded once) and every row its steps add, written by `write`."""

    # (alert, contact) -> the responder row's short code, for rows that exist (or are added)
    responders: dict[tuple[int, int], str | None] = field(default_factory=dict)
    # phone -> (alert, short code) of the active alerts it is a responder of
    codes: defaultdict[str, list[tuple[int, str | None]]] = field(
        default_factory=lambda: defaultdict(list))
    # number -> alerts sent to it in the contact cap's window (`claiming.cap_counts`), when read
    cap_counts: dict[str, int] | None = None
    attempts: list[NewAttempt] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    new_responders: list[dict[str, Any]] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)  # `hooks.plan_values`
    # escalations opened in this transaction, inserted with their plan (not inserted then updated)
    fresh: dict[int, dict[str, Any]] = field(default_factory=dict)  # `hooks.escalation_values`
    # the batch's claimed messages and their alerts (`FILL_INBOUND` rows), set with the rest
    routed: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def after(cls, opened: OpenedRows) -> StepRows:
        """The rows of a batch's steps, beginning with those of the alerts it opened."""
        return cls(events=list(opened.entries), fresh=dict(opened.escalations),
                   routed=list(opened.routed))

    def event(self, alert_id: int, now: datetime, kind: str, said: Said, **data: object) -> None:
        """A system entry on the alert's timeline (its text a key and parameters, and in English)."""
        self.events.append({"alert_id": alert_id, "at": now, "kind": kind, "actor": "system",
                            "message": said.english, "data": {**data, **said.data()}})

    def notified(self, alert_id: int, active: bool, person: Person, now: datetime) -> str | None:
        """Mark the contact notified; returns a short code when their number has other open alerts."""
        assert person.contact_id is not None
        codes = self.codes[person.phone]
        others = [code for other, code in codes if other != alert_id]
        key = (alert_id, person.contact_id)
        if key not in self.responders:
            used = {c for c in others if c}
            code = next((c for c in ascii_uppercase if c not in used), None)
            self.new_responders.append({
                "alert_id": alert_id, "contact_id": person.contact_id,
                "state": ResponderState.NOTIFIED.value, "short_code": code, "updated_at": now})
            self.responders[key] = code
            if active:
                codes.append((alert_id, code))
        return self.responders[key] if others else None

    async def write(self, session: AsyncSession, claim: Claim | None) -> list[NotificationAttempt]:
        """Everything at once: one statement per table on SQLite, one in all on PostgreSQL (the
        opened alerts' escalations inserted with their plan, the others' plans followed, the
        claimed messages given their alerts); returns the
        claimed attempts (with ids). The attempts go in plan order (ids in that order: the call
        before the SMS beside it)."""
        taken = await claim(session, self.attempts) if claim is not None else []
        planned = []
        for step in self.escalations:
            if (fresh := self.fresh.get(step["b_alert_id"])) is not None:
                fresh.update({c: step[f"b_{c}"] for c in PLANNED_COLUMNS})
            else:
                planned.append(step)
        if session.get_bind().dialect.name == "postgresql" and _matchable(self.attempts):
            ids = await self._write_together(session, planned)
            return [a.held(ids[id(a)]) for a in taken]
        ids = await _insert_attempts(session, self.attempts, returning=bool(taken))
        for table, rows in ((_RESPONDER, self.new_responders), (_LINK, self.links),
                            (_EVENT, self.events), (_ESCALATION, list(self.fresh.values()))):
            if rows:
                await session.exec(_INSERTS[table.name], params=rows)  # type: ignore[call-overload]
        for statement, params in ((FOLLOW_PLAN, planned), (FILL_INBOUND, self.routed)):
            if params:
                await session.exec(statement, params=params)  # type: ignore[call-overload]
        return [a.held(ids[id(a)]) for a in taken]

    async def _write_together(self, session: AsyncSession,
                              planned: list[dict[str, Any]]) -> dict[int, int]:
        """PostgreSQL: every row and plan in one statement (steprows_pg.py); the attempts' ids
        by `id()`."""
        rows = await write_together(
            session, [a.values() for a in self.attempts],
            {_RESPONDER.name: self.new_responders, _LINK.name: self.links,
             _EVENT.name: self.events, _ESCALATION.name: list(self.fresh.values())}, planned,
            self.routed, attempt_columns=_FIELDS, key_columns=_KEY_COLUMNS)
        by_key = {tuple(r[1:]): r[0] for r in rows}
        return {id(a): by_key[a.key()] for a in self.attempts}


def _matchable(attempts: list[NewAttempt]) -> bool:
    """Their ids can be told apart by what makes each send distinct (never planned otherwise)."""
    keys = [a.key() for a in attempts]
    return len(set(keys)) == len(keys)


async def _insert_attempts(session: AsyncSession, attempts: list[NewAttempt], *,
                           returning: bool) -> dict[int, int]:
    """Insert attempts with one statement; with `returning`, their ids (by `id()` of each),
    matched on what makes each send distinct in one plan (RETURNING order is not guaranteed on
    SQLite)."""
    if not attempts:
        return {}
    params = [a.values() for a in attempts]
    if not returning:
        await session.exec(_INSERTS[_ATTEMPT.name], params=params)  # type: ignore[call-overload]
        return {}
    keys = [a.key() for a in attempts]
    if len(set(keys)) < len(keys):  # not matchable (never planned so): one statement each
        ids = [(await session.exec(  # type: ignore[call-overload]
            insert(_ATTEMPT).returning(_ATTEMPT.c.id), params=row)).scalar_one() for row in params]
    else:
        rows = await session.exec(_INSERT_ATTEMPTS_RETURNING,  # type: ignore[call-overload]
                                  params=params)
        by_key = {tuple(r[1:]): r[0] for r in rows}
        ids = [by_key[k] for k in keys]
    return {id(a): i for a, i in zip(attempts, ids, strict=True)}
