"""A resident's "1, I am fine" on a sweep call as one statement: most of a sweep's keypresses.

The attempt settles as accepted, the resident's entry (still calling) as fine, answered by the
call, and the resident's language comes back for the reply: what the row-by-row path
(responses/keypress.py, sweep/answers.py) does for this case, without loading a row. PostgreSQL
runs it as one data-modifying WITH, atomic by itself (no transaction around it: db/groupcommit.py
`one`); SQLite runs its two UPDATEs in the round's transaction. Locks come in the one order: the
attempt, then its entry (the entry's UPDATE reads the attempt's), as on the row-by-row path; a
tap on the SMS's link that settled the entry first leaves it as it is (`state = calling`).

Only the plain case matches: a sweep attempt that is the sid's own and not final. Anything else
(no sid yet, a final attempt whose settling counts differently, another purpose) matches nothing,
and the caller takes the row-by-row path.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, select, update
from sqlalchemy.sql.dml import ReturningUpdate

from ..db import shared
from ..db.groupcommit import GroupCommit
from ..db.inlists import any_of, one_of
from ..db.models import (
    AnsweredBy,
    AttemptStatus,
    EntryState,
    Purpose,
    Resident,
    SweepEntry,
)
from ..db.rowset import RowSet, unindexed
from ..i18n import language_of
from ..metrics import Metrics
from ..outbox import forward
from ..outbox.forward import ATTEMPT, in_lock_order
from ..wellbeing import check_call
from ..wellbeing.check_call import CheckAnswer
from .callbacks import HookResult

ENTRY: Table = SweepEntry.__table__  # type: ignore[attr-defined]
RESIDENT: Table = Resident.__table__  # type: ignore[attr-defined]
_KEYS = RowSet("fine_keys", (("id", ATTEMPT.c.id.type), ("sid", ATTEMPT.c.provider_sid.type),
                             ("now", ATTEMPT.c.finished_at.type)))
_NOT_FINAL = [s.value for s in AttemptStatus if not s.is_final]


@dataclass(frozen=True)
class _Settled:
    channel: str
    language: str | None  # the resident's; None without an entry
    entry: bool  # the entry was still calling and is fine now


@cache
def _attempt(dialect: str) -> ReturningUpdate[Any]:
    """The attempt accepted, with its channel and its time (and on PostgreSQL its resident's
    language: SQLite's RETURNING names only the updated table's columns, without the table)."""
    v = _KEYS.source(dialect).c
    returned: list[ColumnElement[Any]] = [ATTEMPT.c.id, ATTEMPT.c.channel,
                                          ATTEMPT.c.finished_at.label("now")]
    if dialect == "postgresql":
        returned.append(select(RESIDENT.c.language)
                        .join_from(ENTRY, RESIDENT, RESIDENT.c.id == ENTRY.c.resident_id)
                        .where(ENTRY.c.attempt_id == ATTEMPT.c.id).scalar_subquery()
                        .label("language"))
    return (in_lock_order(update(ATTEMPT), _KEYS.source(dialect).c.id, dialect)
            .where(ATTEMPT.c.id == v.id, ATTEMPT.c.provider_sid == v.sid,
                   ATTEMPT.c.purpose == Purpose.SWEEP.value,
                   one_of(unindexed(ATTEMPT.c.status, dialect), _NOT_FINAL))
            .values(status=AttemptStatus.ACCEPTED.value, finished_at=v.now, deadline_at=None)
            .returning(*returned))


def _entry(attempt_id: ColumnElement[Any], now: ColumnElement[Any]) -> Any:
    """The entry of that attempt fine, if still calling (outcomes.answer by the call)."""
    return (update(ENTRY)
            .where(ENTRY.c.attempt_id == attempt_id, ENTRY.c.state == EntryState.CALLING.value)
            .values(state=EntryState.FINE.value, answered_by=AnsweredBy.CALL.value,
                    answered_at=now, finished_at=now, updated_at=now)
            .returning(ENTRY.c.attempt_id))


@cache
def _together() -> Select[Any]:
    """PostgreSQL: both UPDATEs in one WITH; the entry's joins the attempt's moved rows."""
    moved = _attempt("postgresql").cte("moved")
    fine = _entry(moved.c.id, moved.c.now).cte("fine")
    return (select(moved.c.id, moved.c.channel, moved.c.language, fine.c.attempt_id.is_not(None))
            .select_from(moved.outerjoin(fine, fine.c.attempt_id == moved.c.id)))


_ENTRIES = RowSet("fine_entries", (("id", ATTEMPT.c.id.type), ("now", ATTEMPT.c.finished_at.type)))
_LANGUAGES = (select(ENTRY.c.attempt_id, RESIDENT.c.language)
              .join_from(ENTRY, RESIDENT, RESIDENT.c.id == ENTRY.c.resident_id)
              .where(any_of(ENTRY.c.attempt_id, "ids")))


@cache
def _entries(dialect: str) -> Any:
    v = _ENTRIES.source(dialect).c
    return _entry(v.id, v.now)


async def _run(session: shared.Statements, rows: list[shared.Row]) -> dict[Hashable, Any]:
    dialect = session.get_bind().dialect
    params = _KEYS.params(dialect, rows)
    if dialect.name == "postgresql":
        found = await session.exec(_together(), params=params)
        return {r[0]: _Settled(r[1], r[2], bool(r[3])) for r in found}
    moved = list(await session.exec(_attempt(dialect.name), params=params))
    if not moved:
        return {}
    fine = set((await session.exec(
        _entries(dialect.name), params=_ENTRIES.params(dialect, [(r[0], r[2]) for r in moved])
    )).scalars())
    spoken = dict(list(await session.exec(
        _LANGUAGES, params={"ids": [r[0] for r in moved]})))
    return {r[0]: _Settled(r[1], spoken.get(r[0]), r[0] in fine) for r in moved}


# With the other moves of attempts in a round, after them (a keypress comes after the call's
# in-progress; a final status in the same round leaves this to the row-by-row path).
SWEEP_FINE = shared.Kind("sweep resident fine", (shared.ATTEMPTS, 95), _run,
                         lock=forward.lock_attempts, locks_in_order=True)


async def lone_fine(writes: GroupCommit, attempt_id: int, sid: str | None, digits: str, *,
                    now: datetime, metrics: Metrics) -> HookResult | None:
    """A 1 pressed on a sweep call, settled as one statement; None when it did not apply (any
    other key, or not the plain case): the caller then runs the row-by-row keypress."""
    if not sid or check_call.KEYS.get(digits.strip()[:1]) is not CheckAnswer.FINE:
        return None
    settled: _Settled | None = await writes.one(SWEEP_FINE, (attempt_id, sid, now))
    if settled is None:
        return None
    metrics.notifications.labels(channel=settled.channel,
                                 status=AttemptStatus.ACCEPTED.value).inc()
    if settled.entry:
        metrics.sweep_answers.labels(state=EntryState.FINE.value).inc()
    language = language_of(settled.language)
    return HookResult(say=check_call.reply(CheckAnswer.FINE, language), language=language,
                      sweep_call=True)
