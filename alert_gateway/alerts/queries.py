"""Read side of alerts: lists, one alert, its timeline, attempts and responders (no writes).

Shared by the JSON API and the dispatch console, so both show the same order and the same rows.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.alerts import ACTIVE_STATUSES, Alert, AlertEvent, AlertStatus
from ..db.escalation import AlertResponder, NotificationAttempt
from ..db.residents import Contact
from ..errors import NotFound

DEFAULT_LIMIT = 50


async def get(session: AsyncSession, *, alert_id: int) -> Alert:
    """The alert with this id; NotFound if there is none."""
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"There is no alert {alert_id}.")
    return alert


async def get_all(
    session: AsyncSession,
    *,
    status: Collection[AlertStatus] | None = None,
    type: str | None = None,
    resident_id: str | None = None,
    severity: str | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> tuple[list[Alert], int]:
    """One page of alerts and the total that match; active ones first, most urgent then oldest.

    Active alerts (open, acknowledged, cancelled) are what an operator must work through, so they
    come first by severity (P1 first) and then by age (longest waiting first). Resolved alerts
    follow, newest first, because history is read backwards.
    """
    filters: list[Any] = []
    if status:
        filters.append(col(Alert.status).in_([s.value for s in status]))
    if type is not None:
        filters.append(col(Alert.type) == type)
    if resident_id is not None:
        filters.append(col(Alert.resident_id) == resident_id)
    if severity is not None:
        filters.append(col(Alert.severity) == severity)

    count_query = select(func.count()).select_from(Alert).where(*filters)
    total = (await session.exec(count_query)).one()

    is_active = col(Alert.status).in_(ACTIVE_STATUSES)
    query = (
        select(Alert)
        .where(*filters)
        .order_by(
            case((is_active, 0), else_=1),
            case((is_active, col(Alert.severity)), else_=None),  # "P1" < "P2" as text
            case((is_active, col(Alert.opened_at)), else_=None),
            col(Alert.opened_at).desc(),
            col(Alert.id).desc(),
        )
        .limit(limit)
        .offset(offset)
    )
    rows = list((await session.exec(query)).all())
    return rows, int(total)


async def timeline(session: AsyncSession, *, alert_id: int) -> list[AlertEvent]:
    """An alert's timeline in the order things happened (id breaks ties within one instant)."""
    query = (
        select(AlertEvent)
        .where(col(AlertEvent.alert_id) == alert_id)
        .order_by(col(AlertEvent.at), col(AlertEvent.id))
    )
    return list((await session.exec(query)).all())


async def attempts_for(session: AsyncSession, *, alert_id: int) -> list[NotificationAttempt]:
    """Every SMS and call made for an alert, in the order they were created."""
    query = (
        select(NotificationAttempt)
        .where(col(NotificationAttempt.alert_id) == alert_id)
        .order_by(col(NotificationAttempt.created_at), col(NotificationAttempt.id))
    )
    return list((await session.exec(query)).all())


async def responders_for(
    session: AsyncSession, *, alert_id: int
) -> list[tuple[AlertResponder, Contact]]:
    """The contacts involved in an alert with how far each has come, in calling order."""
    query = (
        select(AlertResponder, Contact)
        .join(Contact, col(Contact.id) == col(AlertResponder.contact_id))
        .where(col(AlertResponder.alert_id) == alert_id)
        .order_by(col(Contact.priority), col(Contact.id))
    )
    return [(responder, contact) for responder, contact in (await session.exec(query)).all()]


async def history_for_resident(
    session: AsyncSession, *, resident_id: str, limit: int = 20
) -> list[Alert]:
    """A resident's most recent alerts, newest first (what happened last time matters)."""
    query = (
        select(Alert)
        .where(col(Alert.resident_id) == resident_id)
        .order_by(col(Alert.opened_at).desc(), col(Alert.id).desc())
        .limit(limit)
    )
    return list((await session.exec(query)).all())
