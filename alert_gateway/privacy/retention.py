"""Retention: what a closed alert said is purged after a period; that it happened is kept.

After `alert_detail_retention_days` from resolution, an alert loses its raw payloads (rejected
messages kept for it), its timeline texts and data, its SMS and call texts and the numbers they
went to, the responders' notes and the outcome note. Its type, severity, outcome, resident id and
times stay, so the monthly report still counts it. Rejected messages lose their raw payload after
`rejected_message_retention_days`. Every step is a set-based UPDATE guarded by what it changes,
so a purge interrupted by a restart simply runs again (the gateway runs one at start).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.alerts import Alert, AlertEvent, AlertStatus
from ..db.answer_links import AnswerLink
from ..db.escalation import AlertResponder, NotificationAttempt
from ..db.messages import RejectedMessage

log = logging.getLogger(__name__)

BATCH = 500  # alerts per transaction: a first purge of years of history stays in short steps
PURGED = "(purged)"


@dataclass
class PurgeCounts:
    """Rows changed by one purge, by what they were."""

    alerts: int = 0
    notifications: int = 0
    timeline_entries: int = 0
    rejected_messages: int = 0

    def add(self, other: PurgeCounts) -> None:
        """Sum another round into this one."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


async def due_alert_ids(session: AsyncSession, *, cutoff: datetime,
                        limit: int = BATCH) -> list[int]:
    """Resolved alerts closed before the cutoff whose details are still there."""
    query = (select(Alert.id).where(col(Alert.status) == AlertStatus.RESOLVED.value,
                                    col(Alert.resolved_at) < cutoff,
                                    col(Alert.details_purged_at).is_(None))
             .order_by(col(Alert.id)).limit(limit))
    return [i for i in (await session.exec(query)).all() if i is not None]


async def purge_alert_details(session: AsyncSession, alert_ids: Sequence[int], *,
                              now: datetime) -> PurgeCounts:
    """Strip these alerts of texts, payloads and numbers; keep them countable. Caller commits."""
    counts = PurgeCounts(alerts=len(alert_ids))
    if not alert_ids:
        return counts
    ids = list(alert_ids)
    counts.notifications = await _rowcount(session, update(NotificationAttempt).where(
        col(NotificationAttempt.alert_id).in_(ids)).values(body=None, error=None, to_number=""))
    counts.timeline_entries = await _rowcount(session, update(AlertEvent).where(
        col(AlertEvent.alert_id).in_(ids)).values(message="", data={}))
    await session.exec(update(AlertResponder).where(  # type: ignore[call-overload]
        col(AlertResponder.alert_id).in_(ids)).values(note=None))
    # Answer links die with their alert anyway; their rows would only say who was asked when.
    await session.exec(delete(AnswerLink).where(  # type: ignore[call-overload]
        col(AnswerLink.alert_id).in_(ids)))
    counts.rejected_messages = await _rowcount(session, update(RejectedMessage).where(
        col(RejectedMessage.alert_id).in_(ids)).values(payload=b"", detail=PURGED))
    await session.exec(update(Alert).where(col(Alert.id).in_(ids))  # type: ignore[call-overload]
                       .values(outcome_note=None, details_purged_at=now))
    return counts


async def purge_rejected(session: AsyncSession, *, cutoff: datetime) -> int:
    """Blank the raw payload of rejected messages received before the cutoff. Caller commits."""
    return await _rowcount(session, update(RejectedMessage).where(
        col(RejectedMessage.received_at) < cutoff, func.length(RejectedMessage.payload) > 0,
    ).values(payload=b"", detail=PURGED))


async def purge_unlinked_notifications(session: AsyncSession, *, cutoff: datetime) -> int:
    """SMS not about an alert (auto-replies, opt-out confirmations) finished before the cutoff."""
    return await _rowcount(session, update(NotificationAttempt).where(
        col(NotificationAttempt.alert_id).is_(None), col(NotificationAttempt.finished_at) < cutoff,
        col(NotificationAttempt.to_number) != "",
    ).values(body=None, error=None, to_number=""))


async def _rowcount(session: AsyncSession, statement: object) -> int:
    result = await session.exec(statement)  # type: ignore[call-overload]
    return int(result.rowcount or 0)
