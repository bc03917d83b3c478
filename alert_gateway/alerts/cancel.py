"""A resident's cancel: stop escalating to contacts, keep the alert on the board for an operator."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmType

from ..db.models import Alert, AlertEvent, AlertStatus, EventKind
from ..i18n.said import say, term
from . import actions, rules


async def apply_cancel(
    session: AsyncSession,
    alert: Alert,
    *,
    alarm_received_at: datetime,
    alarm_type: AlarmType,
    actor: str,
    now: datetime,
    min_seconds: int,
    grace_seconds: int,
) -> bool:
    """Honour or refuse the cancel; either way it is on the timeline. True when honoured."""
    assert alert.id is not None
    elapsed = (now - alarm_received_at).total_seconds()
    # the cancelled alarm and the alert it joined must both allow it: smoke in the house stays
    refusal = rules.cancel_refusal(
        alarm_type, elapsed, min_seconds=min_seconds, grace_seconds=grace_seconds
    ) or rules.cancel_refusal(
        AlarmType(alert.type), elapsed, min_seconds=min_seconds, grace_seconds=grace_seconds
    )
    if refusal is None and alert.status != AlertStatus.OPEN.value:
        refusal = say("timeline.refusal.already", status=term(f"status.{alert.status}"))
    if refusal is not None:
        said = say("timeline.alert.cancel_refused", reason=refusal.data())
        session.add(AlertEvent(alert_id=alert.id, at=now, kind=EventKind.CANCEL_REFUSED.value,
                               actor=actor, message=said.english, data=said.data()))
        return False
    await actions.cancel(session, alert, actor=actor, now=now,
                         said=say("timeline.alert.cancelled"))
    return True

