"""Planning: one row per resident for the schedule window now running or coming next.

Inserted with ON CONFLICT DO NOTHING on (resident, window start), so a restart or another replica
planning the same window changes nothing. A schedule changed or removed before its first call
drops the untried row; a window already being called keeps going.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import Resident, WellbeingCall, WellbeingState
from ..errors import InvalidInput
from ..escalation.daynight import NightHours
from ..metrics import Metrics
from ..settings import Settings
from .planning import first_due
from .schedule import Schedule, Window, zone

log = logging.getLogger(__name__)


def night_hours(timezone: str, settings: Settings) -> NightHours:
    """The quiet hours in the resident's time zone."""
    return NightHours(zone(timezone), settings.night_start_hour, settings.night_end_hour)


async def plan(session: AsyncSession, *, now: datetime, settings: Settings,
               metrics: Metrics) -> int:
    """Make sure every scheduled resident has the row of their current or next window; the
    number of rows added. The caller commits."""
    residents = (await session.exec(
        select(Resident.id, Resident.wellbeing_schedule, Resident.wellbeing_timezone)
        .where(col(Resident.active), col(Resident.erased_at).is_(None),
               col(Resident.wellbeing_schedule).is_not(None)))).all()
    untried = {call.resident_id: call for call in (await session.exec(
        select(WellbeingCall).where(WellbeingCall.state == WellbeingState.SCHEDULED.value,
                                    WellbeingCall.tries == 0))).all()}
    wanted: list[dict[str, Any]] = []
    for resident_id, text, timezone in residents:
        try:
            window = Schedule.parse(text or "").window_for(now, zone(timezone))
        except InvalidInput as exc:  # written past the validation (e.g. by hand in SQL)
            log.warning("wellbeing schedule unreadable: %s", exc, extra={"resident_id": resident_id})
            continue
        held = untried.pop(resident_id, None)
        if held is not None and _same(held.window_start, window.start):
            continue
        if held is not None:
            _drop(held, now, metrics)
        wanted.append(_row(resident_id, window, timezone, now=now, settings=settings))
    for held in untried.values():  # schedule removed, resident left or deactivated
        _drop(held, now, metrics)
    if not wanted:
        return 0
    connection = await session.connection()
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    table = WellbeingCall.__table__  # type: ignore[attr-defined]
    await session.flush()  # the drops first: a new row may take a dropped row's place
    insert = dialect.insert(table)
    # A window dropped earlier (the schedule changed, then changed back) is planned again; any
    # other row of that window stands as it is.
    result = await session.exec(  # type: ignore[call-overload]
        insert.on_conflict_do_update(
            index_elements=[table.c.resident_id, table.c.window_start],
            set_={"state": insert.excluded.state, "due_at": insert.excluded.due_at,
                  "finished_at": None, "updated_at": insert.excluded.updated_at},
            where=table.c.state == WellbeingState.DROPPED.value)
        .returning(table.c.id), params=wanted)
    return len(result.all())


def _same(stored: datetime, start: datetime) -> bool:
    return (stored if stored.tzinfo else stored.replace(tzinfo=UTC)) == start


def _drop(call: WellbeingCall, now: datetime, metrics: Metrics) -> None:
    call.state, call.finished_at, call.updated_at = WellbeingState.DROPPED.value, now, now
    metrics.wellbeing_checks.labels(outcome=WellbeingState.DROPPED.value).inc()


def _row(resident_id: str, window: Window, timezone: str, *, now: datetime,
         settings: Settings) -> dict[str, Any]:
    due = first_due(window, resident_id, night_hours(timezone, settings))
    return {"resident_id": resident_id, "window_start": window.start.astimezone(UTC),
            "window_end": window.end.astimezone(UTC), "state": WellbeingState.SCHEDULED.value,
            "due_at": due.astimezone(UTC), "tries": 0,
            "created_at": now, "updated_at": now}
