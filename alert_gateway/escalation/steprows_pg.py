"""A batch's step rows in one PostgreSQL statement: the attempts, responders, answer links,
timeline entries and fresh escalations inserted, the other escalations' plans followed, the
batch's claimed messages given their alerts, as data-modifying WITHs over arrays (db/rowset.py).

Each of those tables was an executemany of its own, a round trip each in the transaction that
stores an alarm: on a busy event loop every round trip waits behind whatever else is ready (a
sweep's callbacks), so the alarm's first send waited four times more. One statement, compiled
and prepared once whatever the row counts (empty arrays insert nothing). SQLite keeps one
executemany per table (steprows.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Select, Table, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import (
    AlertEvent,
    AlertResponder,
    AnswerLink,
    Escalation,
    InboundMessage,
    NotificationAttempt,
)
from ..db.rowset import RowSet
from .hooks import PLANNED_COLUMNS

_ATTEMPT: Table = NotificationAttempt.__table__  # type: ignore[attr-defined]
# the columns each table's rows carry (steprows.py, hooks.escalation_values, responses/links.py)
_COLUMNS: dict[Table, tuple[str, ...]] = {
    AlertResponder.__table__: ("alert_id", "contact_id", "state", "short_code", "updated_at"),  # type: ignore[attr-defined]
    AnswerLink.__table__: ("token_hash", "alert_id", "contact_id", "created_at", "expires_at"),  # type: ignore[attr-defined]
    AlertEvent.__table__: ("alert_id", "at", "kind", "actor", "message", "data"),  # type: ignore[attr-defined]
    Escalation.__table__: ("alert_id", "policy", "severity_rank", "state", "step_index", "round",  # type: ignore[attr-defined]
                           "reminders", "step_due_at", "next_due_at", "started_at", "updated_at"),
}

_ESCALATION: Table = Escalation.__table__  # type: ignore[attr-defined]
_PLANS = RowSet("escalation_plans", (("alert_id", _ESCALATION.c.alert_id.type),
                                     *((c, _ESCALATION.c[c].type) for c in PLANNED_COLUMNS)))
_INBOUND: Table = InboundMessage.__table__  # type: ignore[attr-defined]
_ROUTED = RowSet("routed_messages", (("id", _INBOUND.c.id.type), ("alert_id", _INBOUND.c.alert_id.type)))


def _rows_of(table: Table, columns: Sequence[str]) -> RowSet:
    return RowSet(f"{table.name}_rows", tuple((c, table.c[c].type) for c in columns))


def _inserted(table: Table, rows: RowSet) -> Any:
    source = rows.source("postgresql")
    names = [c for c, _ in rows.columns]
    return insert(table).from_select(names, select(*(source.c[c] for c in names)))


@cache
def _statement(attempt_columns: tuple[str, ...], key_columns: tuple[str, ...]) -> Select[Any]:
    attempts = (_inserted(_ATTEMPT, _rows_of(_ATTEMPT, attempt_columns))
                .returning(_ATTEMPT.c.id, *(_ATTEMPT.c[c] for c in key_columns))
                .cte("new_attempts"))
    others = [_inserted(table, _rows_of(table, columns)).cte(f"new_{table.name}")
              for table, columns in _COLUMNS.items()]
    plans = _PLANS.source("postgresql")
    followed = (update(_ESCALATION).where(_ESCALATION.c.alert_id == plans.c.alert_id)
                .values({c: plans.c[c] for c in PLANNED_COLUMNS}).cte("followed_plans"))
    routed = _ROUTED.source("postgresql")
    filled = (update(_INBOUND).where(_INBOUND.c.id == routed.c.id)
              .values(alert_id=routed.c.alert_id).cte("routed_inbound"))
    return select(*attempts.c).add_cte(*others, followed, filled)


async def write_together(session: AsyncSession, attempts: list[dict[str, Any]],
                         others: dict[str, list[dict[str, Any]]], plans: list[dict[str, Any]],
                         routed: list[dict[str, Any]], *, attempt_columns: tuple[str, ...],
                         key_columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Insert every row and follow every plan at once; returns each attempt's (id, *key
    columns), in no set order. `others`: rows by table name (alertresponder, answerlink,
    alertevent, escalation); `plans`: `hooks.plan_values` of escalations that exist already;
    `routed`: `steprows.FILL_INBOUND` rows."""
    dialect = session.get_bind().dialect
    params: dict[str, Any] = _rows_of(_ATTEMPT, attempt_columns).params(
        dialect, [[row[c] for c in attempt_columns] for row in attempts])
    for table, columns in _COLUMNS.items():
        rows = others.get(table.name, [])
        params.update(_rows_of(table, columns).params(
            dialect, [[row[c] for c in columns] for row in rows]))
    params.update(_PLANS.params(dialect, [[plan[f"b_{c}"] for c, _ in _PLANS.columns]
                                          for plan in plans]))
    params.update(_ROUTED.params(dialect, [[r["b_id"], r["b_alert_id"]] for r in routed]))
    result = await session.exec(_statement(attempt_columns, key_columns),  # type: ignore[call-overload]
                                params=params)
    return [tuple(r) for r in result.all()]
