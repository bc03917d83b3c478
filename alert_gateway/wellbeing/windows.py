"""Planning: one row per resident for the schedule window now running or coming next.

Inserted with ON CONFLICT DO NOTHING on (resident, window start), so a restart or another replica
planning the same window changes nothing. A schedule changed or removed before its first call
drops the untried row; a window already being called keeps going.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import null, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.engine import SessionFactory
from ..db.models import Resident, WellbeingCall, WellbeingState
from ..errors import InvalidInput
from ..escalation.daynight import NightHours
from ..metrics import Metrics
from ..settings import Settings
from .planning import first_due
from .schedule import Schedule, Window, zone

log = logging.getLogger(__name__)

# Windows inserted per statement and transaction: a city whose residents share one weekly hour
# gets all its next windows in one plan, and 10,000 in one statement held the event loop for
# 0.1-0.25 s (and in one transaction SQLite's one connection for 0.28 s).
INSERT_CHUNK = 1000


def night_hours(timezone: str, settings: Settings) -> NightHours:
    """The quiet hours in the resident's time zone."""
    return NightHours(zone(timezone), settings.night_start_hour, settings.night_end_hour)


async def plan(sessions: SessionFactory, *, now: datetime, settings: Settings,
               metrics: Metrics) -> int:
    """Make sure every scheduled resident has the row of their current or next window; the
    number of rows added. Commits after its reads and after each INSERT_CHUNK rows: each
    commit's rows stand on their own (a next plan adds whatever is missing).

    Runs every few minutes over a whole city: rows of the few columns it needs, not objects,
    and each distinct schedule worked out once (10,000 residents as objects, each schedule
    parsed anew, held the event loop for a quarter of a second every time)."""
    async with sessions() as session:
        return await _plan_in(session, now=now, settings=settings, metrics=metrics)


async def _plan_in(session: AsyncSession, *, now: datetime, settings: Settings,
                   metrics: Metrics) -> int:
    residents = (await session.exec(
        select(Resident.id, Resident.wellbeing_schedule, Resident.wellbeing_timezone)
        .where(col(Resident.active), col(Resident.erased_at).is_(None),
               col(Resident.wellbeing_schedule).is_not(None)))).all()
    untried = {resident_id: (call_id, start) for call_id, resident_id, start in (await session.exec(
        select(WellbeingCall.id, WellbeingCall.resident_id, WellbeingCall.window_start)
        .where(WellbeingCall.state == WellbeingState.SCHEDULED.value,
               WellbeingCall.tries == 0))).all()}  # the call's id and window
    await session.commit()  # reads done: SQLite's one connection serves others meanwhile
    windows: dict[tuple[str, str], Window | InvalidInput] = {}
    wanted: list[dict[str, Any]] = []
    dropped: list[int | None] = []
    for resident_id, text, timezone in residents:
        key = (text or "", timezone)
        if key not in windows:
            try:
                windows[key] = Schedule.parse(key[0]).window_for(now, zone(timezone))
            except InvalidInput as exc:  # written past the validation (e.g. by hand in SQL)
                windows[key] = exc
        window = windows[key]
        if isinstance(window, InvalidInput):
            log.warning("wellbeing schedule unreadable: %s", window,
                        extra={"resident_id": resident_id})
            continue
        held = untried.pop(resident_id, None)
        if held is not None and _same(held[1], window.start):
            continue
        if held is not None:
            dropped.append(held[0])
        wanted.append(_row(resident_id, window, timezone, now=now, settings=settings))
    dropped += [call_id for call_id, _ in untried.values()]  # schedule removed, resident left
    if dropped:  # first: a new row may take a dropped row's place
        result = await session.exec(  # type: ignore[call-overload]
            update(WellbeingCall)
            .where(col(WellbeingCall.id).in_(dropped),  # still untried: not one called meanwhile
                   col(WellbeingCall.state) == WellbeingState.SCHEDULED.value,
                   col(WellbeingCall.tries) == 0)
            .values(state=WellbeingState.DROPPED.value, finished_at=now, updated_at=now))
        metrics.wellbeing_checks.labels(outcome=WellbeingState.DROPPED.value).inc(result.rowcount)
    if not wanted:
        await session.commit()
        return 0
    connection = await session.connection()
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    table = WellbeingCall.__table__  # type: ignore[attr-defined]
    insert = dialect.insert(table)
    # A window dropped earlier (the schedule changed, then changed back) is planned again; any
    # other row of that window stands as it is.
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.resident_id, table.c.window_start],
        set_={"state": insert.excluded.state, "due_at": insert.excluded.due_at,
              # SQL's NULL, not a bound None: a parameter after VALUES made SQLAlchemy insert
              # one row per statement on SQLite (10,000 trips holding its one connection)
              "finished_at": null(), "updated_at": insert.excluded.updated_at},
        where=table.c.state == WellbeingState.DROPPED.value).returning(table.c.id)
    added = 0
    for start in range(0, len(wanted), INSERT_CHUNK):
        result = await session.exec(statement,  # type: ignore[call-overload]
                                    params=wanted[start:start + INSERT_CHUNK])
        added += len(result.all())
        await session.commit()  # SQLite's one connection serves others in between
    return added


def _same(stored: datetime, start: datetime) -> bool:
    return (stored if stored.tzinfo else stored.replace(tzinfo=UTC)) == start


def _row(resident_id: str, window: Window, timezone: str, *, now: datetime,
         settings: Settings) -> dict[str, Any]:
    due = first_due(window, resident_id, night_hours(timezone, settings))
    return {"resident_id": resident_id, "window_start": window.start.astimezone(UTC),
            "window_end": window.end.astimezone(UTC), "state": WellbeingState.SCHEDULED.value,
            "due_at": due.astimezone(UTC), "tries": 0,
            "created_at": now, "updated_at": now}
