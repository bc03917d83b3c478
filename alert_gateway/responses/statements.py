"""The shared statements of status callbacks that change a row beside their attempt.

A call that ended without a key makes its escalation due now; a person's voice detected marks
the contact as having answered. On PostgreSQL each is one statement with its attempt's move (a
data-modifying WITH, which commits or fails as one), so such a callback needs no transaction
around it (db/groupcommit.py `one`). SQLite, one statement per table, runs both in the round's
transaction. Locks are taken in the one order: the attempts (in id order), then the other rows.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, select, update
from sqlalchemy.sql.dml import ReturningUpdate

from ..db import shared
from ..db.inlists import any_of
from ..db.models import AlertResponder, AttemptStatus, EscalationState, Purpose, ResponderState
from ..db.rowset import RowSet
from ..escalation.hooks import ESCALATION, POKED
from ..outbox import forward
from ..outbox.forward import ATTEMPT, RETURNED, Moved, in_lock_order

RESPONDER: Table = AlertResponder.__table__  # type: ignore[attr-defined]
_ALERT = Purpose.ALERT.value


def _moved(rows: Any) -> dict[Hashable, Moved]:
    return {r[0]: Moved(*r[1:]) for r in rows}


def _then(attempts: Any, also: Any) -> Select[Any]:
    """The attempts' move (a CTE), the UPDATE of another table beside it, the moved rows back."""
    return select(*(attempts.c[c.name] for c in RETURNED)).add_cte(also)


# --- the attempt failed, and its escalation is due now -------------------------------------------

@dataclass(frozen=True)
class Unchanged:
    """A failure that matched no attempt and leaves nothing for the row-by-row path to do: the
    attempt is already final (most often a call's "completed" after its key) or further on, or
    is another sid's. `sweep_call`: a sweep's own call, as the row-by-row path would tell."""

    sweep_call: bool


_AS_WAS = ATTEMPT.alias("as_was")  # the attempt before the statement (a WITH's snapshot)
_SEEN = (_AS_WAS.c.purpose, _AS_WAS.c.provider_sid, _AS_WAS.c.status, _AS_WAS.c.answered_by)


def _unchanged(row: shared.Row, purpose: str, provider_sid: str | None, status: str,
               answered_by: str | None) -> Unchanged | None:
    """What the row-by-row path (`call_status`, `message_status`) would change for a move that
    matched nothing, from the attempt as it was: nothing (Unchanged) or perhaps something (None:
    a sid to fill in, a status behind, an answered_by to keep). A final status stays final and
    a sid, once there, stays: what a concurrent writer changes meanwhile adds nothing to do."""
    if provider_sid is None:  # the callback beat the API answer, or the answer never came
        return None
    if provider_sid != row[1]:
        return Unchanged(sweep_call=False)  # another call's: named_attempt finds none
    current = AttemptStatus(status)
    if (not current.is_final and current.rank < row[3]) or (row[6] and not answered_by):
        return None
    return Unchanged(sweep_call=purpose == Purpose.SWEEP.value)


@cache
def _failed_and_due(dialect: str) -> Select[Any]:
    moved = forward.advance_statement(dialect).returning(ATTEMPT.c.finished_at).cte("moved")
    poked = (update(ESCALATION)
             .where(ESCALATION.c.alert_id == moved.c.alert_id, moved.c.purpose == _ALERT,
                    ESCALATION.c.state == EscalationState.RUNNING.value)
             .values(next_due_at=moved.c.finished_at, updated_at=moved.c.finished_at)
             .cte("poked"))
    v = forward.ADVANCED.source(dialect)
    return (select(v.c.id, *(moved.c[c.name] for c in RETURNED[1:]), moved.c.id.is_not(None),
                   *_SEEN)
            .select_from(v.join(_AS_WAS, _AS_WAS.c.id == v.c.id)
                         .outerjoin(moved, moved.c.id == v.c.id))
            .add_cte(poked))


_SEEN_BY_ID = select(_AS_WAS.c.id, *_SEEN).where(any_of(_AS_WAS.c.id, "ids"))


async def _run_failed_and_due(session: shared.Statements, rows: list[shared.Row]) -> dict[Hashable, Any]:
    dialect = session.get_bind().dialect
    asked = {row[0]: row for row in rows}
    if dialect.name == "postgresql":
        found: dict[Hashable, Any] = {}
        for r in await session.exec(_failed_and_due(dialect.name),
                                    params=forward.ADVANCED.params(dialect, rows)):
            found[r[0]] = Moved(*r[1:5]) if r[5] else _unchanged(asked[r[0]], *r[6:])
        return {key: result for key, result in found.items() if result is not None}
    moved: dict[Hashable, Any] = await forward.ADVANCE.run(session, rows)
    finished = {row[0]: row[4] for row in rows}  # a failure is final: the row carries its time
    due = [(m.alert_id, finished[key]) for key, m in moved.items() if m.purpose == _ALERT]
    if due:
        await POKED.run(session, due)
    if len(moved) < len(rows):
        for r in await session.exec(_SEEN_BY_ID,
                                    params={"ids": [k for k in asked if k not in moved]}):
            if (unchanged := _unchanged(asked[r[0]], *r[1:])) is not None:
                moved[r[0]] = unchanged
    return moved


# After Twilio's acceptance and the other moves of a round (forward.ADVANCE): the attempt ends
# at the furthest status.
FAILED_AND_DUE = shared.Kind("attempt failed, escalation due",
                             (shared.ATTEMPTS, 12 + AttemptStatus.QUEUED.rank),
                             _run_failed_and_due, lock=forward.lock_attempts, locks_in_order=True)


# --- a person answered ----------------------------------------------------------------------------

_HUMANS = RowSet("humans", (("id", ATTEMPT.c.id.type), ("sid", ATTEMPT.c.provider_sid.type),
                            ("answered_by", ATTEMPT.c.answered_by.type),
                            ("now", RESPONDER.c.updated_at.type)))


@cache
def _named(dialect: str) -> tuple[ReturningUpdate[Any], ColumnElement[Any]]:
    """The attempt's answered_by, if the sid is its own; and the row's time, for the WITH."""
    v = _HUMANS.source(dialect).c
    return (in_lock_order(update(ATTEMPT), _HUMANS.source(dialect).c.id, dialect)
            .where(ATTEMPT.c.id == v.id, ATTEMPT.c.provider_sid == v.sid)
            .values(answered_by=v.answered_by)
            .returning(*RETURNED)), v.now


@cache
def _human_answered(dialect: str) -> Select[Any]:
    statement, now = _named(dialect)
    named = statement.returning(now.label("now")).cte("named")
    answered = (update(RESPONDER)
                .where(RESPONDER.c.alert_id == named.c.alert_id,
                       RESPONDER.c.contact_id == named.c.contact_id,
                       RESPONDER.c.state == ResponderState.NOTIFIED.value)
                .values(state=ResponderState.ANSWERED.value, updated_at=named.c.now)
                .cte("answered"))
    return _then(named, answered)


async def _run_human_answered(session: shared.Statements, rows: list[shared.Row]) -> dict[Hashable, Any]:
    dialect = session.get_bind().dialect
    params = _HUMANS.params(dialect, rows)
    if dialect.name == "postgresql":
        return _moved(await session.exec(_human_answered(dialect.name),
                                         params=params))
    named = _moved(await session.exec(_named(dialect.name)[0],
                                      params=params))
    now = {row[0]: row[3] for row in rows}
    people = [((m.alert_id, m.contact_id), m.alert_id, m.contact_id, now[key])
              for key, m in named.items() if m.alert_id is not None and m.contact_id is not None]
    if people:
        await ANSWERED.run(session, people)
    return named


HUMAN_ANSWERED = shared.Kind("a person answered", (shared.ATTEMPTS, 90), _run_human_answered,
                             lock=forward.lock_attempts, locks_in_order=True)


# --- a contact answered (the row-by-row path) -----------------------------------------------------

_ANSWERS = RowSet("answered", (("alert_id", RESPONDER.c.alert_id.type),
                               ("contact_id", RESPONDER.c.contact_id.type),
                               ("now", RESPONDER.c.updated_at.type)))


@cache
def _answered_statement(dialect: str) -> Any:
    v = _ANSWERS.source(dialect).c
    return (update(RESPONDER)
            .where(RESPONDER.c.alert_id == v.alert_id, RESPONDER.c.contact_id == v.contact_id,
                   RESPONDER.c.state == ResponderState.NOTIFIED.value)
            .values(state=ResponderState.ANSWERED.value, updated_at=v.now))


async def _run_answered(session: shared.Statements, rows: list[shared.Row]) -> dict[Hashable, Any]:
    dialect = session.get_bind().dialect
    await session.exec(_answered_statement(dialect.name),
                       params=_ANSWERS.params(dialect, [r[1:] for r in rows]))
    return {}


ANSWERED = shared.Kind("responder answered", (shared.RESPONDERS, 0), _run_answered)
