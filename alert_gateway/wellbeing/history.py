"""Read-only views of wellbeing results: a resident's history and a month's figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.escalation import AttemptStatus
from ..db.models import (
    Device,
    NotificationAttempt,
    Purpose,
    Resident,
    WellbeingCall,
    WellbeingState,
)

HISTORY_ROWS = 12
ANSWERED = (AttemptStatus.ACCEPTED.value, AttemptStatus.DECLINED.value)  # 1 or 9 pressed
REACHED = (WellbeingState.FINE.value, WellbeingState.HELP.value)


async def for_resident(session: AsyncSession, *, resident_id: str,
                       limit: int = HISTORY_ROWS) -> list[WellbeingCall]:
    """The resident's windows, newest first (what the console's history shows)."""
    return list((await session.exec(
        select(WellbeingCall).where(WellbeingCall.resident_id == resident_id)
        .order_by(col(WellbeingCall.window_start).desc()).limit(limit))).all())


async def last_checkins(session: AsyncSession, resident_ids: Sequence[str]) -> dict[str, datetime]:
    """Each resident's latest device test or periodic check-in: a sign of life beside the calls."""
    if not resident_ids:
        return {}
    rows = (await session.exec(
        select(Device.resident_id, func.max(Device.last_test_at))
        .where(col(Device.resident_id).in_(list(resident_ids)))
        .group_by(col(Device.resident_id)))).all()
    return {resident_id: at for resident_id, at in rows if resident_id and at}


@dataclass
class MonthFigures:
    """The monthly report's wellbeing lines."""

    calls: int = 0
    answered: int = 0
    never_reached: list[tuple[Resident, datetime | None]] = field(default_factory=list)

    @property
    def answered_share(self) -> float | None:
        """Share of calls answered with 1 or 9 (None without calls)."""
        return self.answered / self.calls if self.calls else None


async def month_figures(session: AsyncSession, *, start: datetime, end: datetime) -> MonthFigures:
    """Calls made in [start, end), the share answered, and residents called but never reached
    (each with their last check-in)."""
    in_month = (col(NotificationAttempt.purpose) == Purpose.WELLBEING.value,
                col(NotificationAttempt.created_at) >= start,
                col(NotificationAttempt.created_at) < end)
    figures = MonthFigures()
    figures.calls = (await session.exec(
        select(func.count()).select_from(NotificationAttempt).where(*in_month))).one()
    figures.answered = (await session.exec(
        select(func.count()).select_from(NotificationAttempt)
        .where(*in_month, col(NotificationAttempt.status).in_(ANSWERED)))).one()
    windows = (col(WellbeingCall.window_start) >= start, col(WellbeingCall.window_start) < end,
               col(WellbeingCall.tries) > 0)
    reached = select(WellbeingCall.resident_id).where(
        *windows, col(WellbeingCall.state).in_(REACHED))
    unreached = (await session.exec(
        select(Resident).where(
            col(Resident.id).in_(select(WellbeingCall.resident_id).where(*windows)),
            col(Resident.id).not_in(reached))
        .order_by(col(Resident.id)))).all()
    checkins = await last_checkins(session, [r.id for r in unreached])
    figures.never_reached = [(r, checkins.get(r.id)) for r in unreached]
    return figures
