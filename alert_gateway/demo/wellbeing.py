"""The demo's one wellbeing call (お元気コール): the first resident's window opens now.

A real schedule waits for its window; the demo makes the window the present minute and the call
due at once, so it rings on the phones page as soon as the gateway runs (quiet hours aside: it is a
drill on the fake Twilio).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy.dialects import sqlite

from ..db.engine import SessionFactory
from ..db.models import Resident, WellbeingCall, WellbeingState
from ..wellbeing.schedule import Cadence, Schedule, zone

LATEST_START = time(22, 58)  # the window must end the same day


async def call_now(sessions: SessionFactory, *, resident_id: str, now: datetime) -> str | None:
    """Give the resident a weekly window starting this minute, due now; their name (None when
    the resident or their phone is missing)."""
    async with sessions() as session:
        resident = await session.get(Resident, resident_id)
        if resident is None or not resident.phone:
            return None
        local = now.astimezone(zone(resident.wellbeing_timezone)).replace(second=0, microsecond=0)
        start = min(local, local.replace(hour=LATEST_START.hour, minute=LATEST_START.minute))
        end = min(start + timedelta(hours=1), start.replace(hour=23, minute=59))
        resident.wellbeing_schedule = str(Schedule(Cadence.WEEKLY, start.weekday(),
                                                   start.time(), end.time()))
        table = WellbeingCall.__table__  # type: ignore[attr-defined]
        await session.exec(sqlite.insert(table).on_conflict_do_nothing().values(  # type: ignore[call-overload]
            resident_id=resident_id, window_start=start.astimezone(UTC),
            window_end=end.astimezone(UTC), state=WellbeingState.SCHEDULED.value, due_at=now,
            tries=0, created_at=now, updated_at=now))
        await session.commit()
        return resident.name
