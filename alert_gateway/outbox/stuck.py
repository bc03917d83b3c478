"""Attempts stuck in queued/ringing past their deadline: ask Twilio, else count them as failed."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import col, select

from ..bus import AlertBus, ChangeKind
from ..db.engine import SessionFactory
from ..db.models import AttemptStatus, NotificationAttempt, NotifyChannel, Purpose
from ..escalation import hooks
from ..metrics import Metrics
from ..twilio.client import SendError, TwilioSender
from ..unit_of_work import unit_of_work
from .attempts import advance, map_status

log = logging.getLogger(__name__)
IN_FLIGHT = (AttemptStatus.QUEUED.value, AttemptStatus.SENT.value, AttemptStatus.RINGING.value,
             AttemptStatus.IN_PROGRESS.value)
WATCHED = (*IN_FLIGHT, AttemptStatus.HANGING_UP.value)  # rows whose deadline_at wakes the dispatcher
CHASE_BATCH = 20
POLL_RETRY = timedelta(minutes=1)
MAX_POLLS = 3


async def chase(sessions: SessionFactory, bus: AlertBus, metrics: Metrics, sender: TwilioSender, *,
                now: datetime) -> None:
    """Poll each overdue attempt once; give up (not reached / failed) after MAX_POLLS."""
    async with sessions() as session:
        rows = list((await session.exec(
            select(NotificationAttempt)
            .where(col(NotificationAttempt.status).in_(IN_FLIGHT),
                   col(NotificationAttempt.deadline_at) < now)
            .order_by(col(NotificationAttempt.deadline_at)).limit(CHASE_BATCH))).all())
    for row in rows:
        provider: str | None = None
        if row.provider_sid:
            try:
                provider = await sender.fetch_status(sid=row.provider_sid,
                                                     voice=row.channel == NotifyChannel.VOICE.value)
            except SendError as exc:
                log.warning("could not poll a stuck attempt: %s", exc, extra={"attempt_id": row.id})
        await _settle(sessions, bus, metrics, row.id, provider, now=now)


async def _settle(sessions: SessionFactory, bus: AlertBus, metrics: Metrics, attempt_id: int | None,
                  provider: str | None, *, now: datetime) -> None:
    async with unit_of_work(sessions, bus) as uow:
        session = uow.session
        row = await session.get(NotificationAttempt, attempt_id)
        if row is None or row.status not in IN_FLIGHT:
            return
        new = map_status(row.channel, provider) if provider else None
        if new is not None:
            advance(row, new, now=now, metrics=metrics)
        if not AttemptStatus(row.status).is_final:
            row.retries += 1
            if row.retries >= MAX_POLLS:
                given_up = (AttemptStatus.NOT_REACHED if row.channel == NotifyChannel.VOICE.value
                            else AttemptStatus.FAILED)
                if row.status == AttemptStatus.SENT.value and row.channel == NotifyChannel.SMS.value:
                    row.deadline_at = None  # sent, but carriers often never confirm delivery: leave it
                else:
                    advance(row, given_up, now=now, metrics=metrics)
                    row.error = "no final status from Twilio before the deadline"
            else:
                row.deadline_at = now + POLL_RETRY
        if (AttemptStatus(row.status).is_failure and row.alert_id is not None
                and row.purpose == Purpose.ALERT.value):
            await hooks.poke(session, row.alert_id, now=now)
            uow.changed(row.alert_id, ChangeKind.NOTIFICATION)
