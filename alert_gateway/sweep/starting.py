"""Starting a sweep: whom to call, in which order, with which message; and the supervisor's
pause, resume and stop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import EntryState, Resident, Sweep, SweepEntry, SweepState
from ..errors import Conflict, NotFound
from ..i18n import t


def at_risk(resident: Resident) -> bool:
    """Called first: oxygen at home, bed-bound, or nobody close by to look in."""
    return resident.oxygen_in_home or resident.bed_bound or resident.no_nearby_contact


def call_order(residents: Sequence[Resident]) -> list[Resident]:
    """Residents at risk first, then the rest; by id inside each group (stable, repeatable)."""
    return sorted(residents, key=lambda r: (not at_risk(r), r.id))


def default_message(language: str, *, centre: str) -> str:
    """What a sweep says when the supervisor keeps the default (the keys follow it)."""
    return t(language, "sweep.message", centre=centre)


async def start(session: AsyncSession, *, area_prefix: str | None, message_ja: str,
                message_en: str, actor: str, now: datetime) -> Sweep:
    """Store a running sweep with one waiting entry per active resident in the area.
    The caller commits, then pokes the runner."""
    query = select(Resident).where(col(Resident.active), col(Resident.erased_at).is_(None))
    if area_prefix:
        escaped = area_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(col(Resident.address).like(f"{escaped}%", escape="\\"))
    residents = call_order((await session.exec(query)).all())
    if not residents:
        raise Conflict("no active resident in this area")
    sweep = Sweep(area_prefix=area_prefix or None, message_ja=message_ja, message_en=message_en,
                  started_by=actor, created_at=now, updated_at=now)
    session.add(sweep)
    await session.flush()
    assert sweep.id is not None
    # one executemany, not an INSERT … RETURNING per resident: on SQLite 10,000 round trips
    # held the one connection for seconds, and every alarm meanwhile waited behind them
    await session.exec(insert(SweepEntry.__table__), params=[  # type: ignore[call-overload,attr-defined]
        {"sweep_id": sweep.id, "resident_id": resident.id, "rank": rank,
         "at_risk": at_risk(resident), "state": EntryState.WAITING.value, "tries": 0,
         "updated_at": now}
        for rank, resident in enumerate(residents, start=1)])
    return sweep


# The supervisor's controls: which states each may leave.
_CONTROLS = {
    "pause": ({SweepState.RUNNING}, SweepState.PAUSED),
    "resume": ({SweepState.PAUSED}, SweepState.RUNNING),
    "stop": ({SweepState.RUNNING, SweepState.PAUSED}, SweepState.STOPPED),
}
CONTROLS = tuple(_CONTROLS)


async def get(session: AsyncSession, *, sweep_id: int) -> Sweep:
    """One sweep, or NotFound."""
    sweep = await session.get(Sweep, sweep_id)
    if sweep is None:
        raise NotFound(f"no sweep {sweep_id}")
    return sweep


async def control(session: AsyncSession, *, sweep_id: int, action: str, now: datetime) -> Sweep:
    """Pause, resume or stop; Conflict from a state it cannot leave. The caller commits."""
    sweep = await get(session, sweep_id=sweep_id)
    allowed, to = _CONTROLS[action]
    if SweepState(sweep.state) not in allowed:
        raise Conflict(f"sweep {sweep_id} is {sweep.state}: cannot {action}")
    sweep.state, sweep.updated_at = to.value, now
    if to is SweepState.STOPPED:
        sweep.finished_at = now
    return sweep
