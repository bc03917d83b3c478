"""The sweep verbs the API and the console share: start, control, and read one sweep."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import Sweep
from . import starting, views
from .schemas import ResponderRead, SweepEntryRead, SweepIn, SweepRead

# Residents an answer lists at most (`?limit=`, `?offset=` for the rest): all 10,000 of a city in
# one answer held the loop for half a second, alarms waiting behind it.
RESIDENTS_PAGE = 500
RESIDENTS_PAGE_MAX = 1000


async def create(session: AsyncSession, *, data: SweepIn, centre: str, actor: str,
                 now: datetime) -> Sweep:
    """Start a sweep with the given or default messages. The caller commits, then pokes."""
    return await starting.start(
        session, area_prefix=data.area_prefix,
        message_ja=data.message_ja or starting.default_message("ja", centre=centre),
        message_en=data.message_en or starting.default_message("en", centre=centre),
        actor=actor, now=now)


async def read(session: AsyncSession, *, sweep_id: int, limit: int = RESIDENTS_PAGE,
               offset: int = 0) -> SweepRead:
    """The sweep with counts and a page of its residents in call order, as the API answers it."""
    sweep = await starting.get(session, sweep_id=sweep_id)
    assert sweep.id is not None
    found = await views.rows(session, sweep_id=sweep.id, limit=limit, offset=offset)
    counts = await views.counts(session, sweep_id=sweep.id)
    return SweepRead(
        id=sweep.id, state=sweep.state, area_prefix=sweep.area_prefix,
        message_ja=sweep.message_ja, message_en=sweep.message_en, started_by=sweep.started_by,
        created_at=sweep.created_at, finished_at=sweep.finished_at,
        counts=counts, residents_total=sum(counts.values()), residents_offset=offset,
        residents=[SweepEntryRead(
            resident_id=row.entry.resident_id, name=row.name, rank=row.entry.rank,
            at_risk=row.entry.at_risk, state=row.entry.state, tries=row.entry.tries,
            alert_id=row.entry.alert_id, answered_at=row.entry.answered_at,
            answered_by=row.entry.answered_by,
            responders=[ResponderRead.model_validate(r) for r in row.responders])
            for row in found])
