"""Starting a sweep: whom to call, in which order, with which message; and the supervisor's
pause, resume and stop."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, DateTime, case, func, insert, literal, or_
from sqlalchemy import select as core_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import EntryState, Resident, Sweep, SweepEntry, SweepState
from ..errors import Conflict, NotFound
from ..i18n import t


def at_risk() -> ColumnElement[bool]:
    """Called first: oxygen at home, bed-bound, or nobody close by to look in."""
    return or_(col(Resident.oxygen_in_home), col(Resident.bed_bound),
               col(Resident.no_nearby_contact))


def default_message(language: str, *, centre: str) -> str:
    """What a sweep says when the supervisor keeps the default (the keys follow it)."""
    return t(language, "sweep.message", centre=centre)


async def start(session: AsyncSession, *, area_prefix: str | None, message_ja: str,
                message_en: str, actor: str, now: datetime) -> Sweep:
    """Store a running sweep with one waiting entry per active resident in the area.
    The caller commits, then pokes the runner."""
    sweep = Sweep(area_prefix=area_prefix or None, message_ja=message_ja, message_en=message_en,
                  started_by=actor, created_at=now, updated_at=now)
    session.add(sweep)
    await session.flush()
    assert sweep.id is not None
    chosen = [col(Resident.active), col(Resident.erased_at).is_(None)]
    if area_prefix:
        escaped = area_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        chosen.append(col(Resident.address).like(f"{escaped}%", escape="\\"))
    # by code point, as SQLite compares: the same order on both
    by_id = (col(Resident.id).collate("C") if session.get_bind().dialect.name == "postgresql"
             else col(Resident.id))
    # Residents at risk first, then the rest, by id inside each group (stable, repeatable),
    # numbered in SQL: 10,000 residents read and written back from Python held the loop for
    # half a second, alarms waiting behind it.
    risk = at_risk()
    rank = func.row_number().over(order_by=(case((risk, 0), else_=1), by_id))
    columns = ("sweep_id", "resident_id", "rank", "at_risk", "state", "tries", "updated_at")
    rows = core_select(literal(sweep.id), col(Resident.id), rank, risk,
                  literal(EntryState.WAITING.value), literal(0), literal(now, DateTime(timezone=True)))
    added = await session.exec(insert(SweepEntry.__table__).from_select(  # type: ignore[call-overload,attr-defined]
        columns, rows.where(*chosen)))
    if not added.rowcount:
        raise Conflict("no active resident in this area")
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
