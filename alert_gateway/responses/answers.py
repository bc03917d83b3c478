"""The one acceptance path for a contact's answer, whatever carried it.

An SMS reply, a tap on the answer page and a LINE postback all call `answer`: accepting is not
acknowledging twice (the first acceptance stands, later ones hear who took it), a decline moves the
escalation on at once, an arrival is recorded on the timeline; device feedback follows from the
changes the caller publishes after its commit.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from ..alerts import actions
from ..bus import AlertChange, ChangeKind
from ..db.models import AckChannel, Alert, AlertStatus
from ..i18n import t
from .callbacks import HookResult, accept, decline


class Answer(StrEnum):
    """What a contact can answer about an alert."""

    ACCEPT = "accept"  # 向かいます
    DECLINE = "decline"  # 行けません
    ARRIVE = "arrive"  # 到着しました


async def answer(session: AsyncSession, alert: Alert, contact_id: int, verb: Answer, *,
                 channel: AckChannel, now: datetime, tz: tzinfo, result: HookResult) -> str:
    """Apply one contact's answer; returns the confirmation in `result.language` (SMS wording)."""
    assert alert.id is not None
    lang = result.language
    if verb is Answer.ACCEPT:
        return await accept(session, alert, contact_id, channel=channel, now=now, tz=tz,
                            result=result, voice=False)
    if alert.status == AlertStatus.RESOLVED.value:
        return t(lang, "sms.closed")
    if verb is Answer.DECLINE:
        await decline(session, alert, contact_id, channel=channel.value, now=now, result=result)
        return t(lang, "sms.declined")
    await actions.record_arrival(session, alert_id=alert.id, actor=f"contact:{contact_id}",
                                 now=now, contact_id=contact_id, channel=channel)
    result.changes.append(AlertChange(alert.id, ChangeKind.ARRIVED))
    return t(lang, "sms.arrived")
