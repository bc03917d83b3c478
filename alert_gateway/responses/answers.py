"""The one acceptance path for a contact's answer, whatever carried it.

An SMS reply, a tap on the answer page and a LINE postback all call `answer`: accepting is not
acknowledging twice (the first acceptance stands, later ones hear who took it), a decline moves the
escalation on at once, an arrival is recorded on the timeline; device feedback follows from the
changes the caller publishes after its commit.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlmodel.ext.asyncio.session import AsyncSession

from ..alerts import actions
from ..bus import AlertChange, ChangeKind
from ..db.answer_links import Answer
from ..db.models import AckChannel, Alert, AlertResponder, AlertStatus, ResponderState
from ..i18n import t
from .callbacks import HookResult
from .keypress import accept, decline


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
    me = f"contact:{contact_id}"
    if alert.acknowledged_at is None:  # "I've arrived" before "I'm going" says both
        await accept(session, alert, contact_id, channel=channel, now=now, tz=tz, result=result,
                     voice=False)
    if alert.acknowledged_by != me:  # somebody else has it: they hear who
        return await accept(session, alert, contact_id, channel=channel, now=now, tz=tz,
                            result=result, voice=False)
    responder = await session.get(AlertResponder, (alert.id, contact_id))
    if responder is None or responder.state != ResponderState.ARRIVED.value:  # a second tap: once
        await actions.record_arrival(session, alert_id=alert.id, actor=me, now=now,
                                     contact_id=contact_id, channel=channel)
        result.changes.append(AlertChange(alert.id, ChangeKind.ARRIVED))
    return t(lang, "sms.arrived")
