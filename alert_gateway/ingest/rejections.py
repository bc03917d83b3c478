"""A refused message, kept with its reason; an unreadable alarm still raises a P1 alert."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmType

from ..alerts.opening import alert_key, event, open_alert
from ..db.messages import RejectReason
from ..db.models import EventKind, RejectedMessage
from ..i18n.said import say, term
from .batch import BatchContext, BatchResult, write_added
from .bulk import Opened
from .parse import Rejection, printable

RAW_PAYLOAD_ON_TIMELINE = 1000  # characters of an unreadable alarm shown to the operator


async def store_rejection(
    session: AsyncSession, ctx: BatchContext, item: Rejection, *, now: datetime, result: BatchResult
) -> None:
    """Keep the rejection; an unreadable alarm joins (or opens) its resident's alert."""
    rejected = RejectedMessage(  # text kept printable: a NUL would make the rejection itself unstorable
        received_at=now,
        topic=printable(item.topic, 500),
        device_id=item.device_id,
        reason=item.reason.value,
        detail=printable(item.detail),
        payload=item.payload,
    )
    session.add(rejected)
    kind = item.channel.value if item.channel else "unknown"
    result.outcomes[(kind, f"rejected_{item.reason.value}")] += 1
    if not item.is_unreadable_alarm:
        return
    assert item.device_id is not None
    what = term("timeline.alarm.unstorable" if item.reason is RejectReason.UNSTORABLE
                else "timeline.alarm.unreadable")
    await write_added(ctx, result)  # alerts opened earlier in this batch get their entries first
    device = ctx.devices.get(item.device_id)
    resident_id = device.resident_id if device else None
    actor = f"device:{item.device_id}"
    alert = await ctx.active(alert_key(resident_id, item.device_id))
    if alert is None:  # if in doubt, go out: an unreadable alarm is a P1
        routed = await open_alert(
            session,
            resident_id=resident_id,
            device_id=item.device_id,
            alarm_type=AlarmType.UNKNOWN,
            unregistered=device is None,
            now=now,
            actor=actor,
            said=say("timeline.alarm.payload_received", what=what),
            data={},
        )
        alert = routed.alert
        ctx.active_by_key[alert_key(resident_id, item.device_id)] = alert
        assert alert.id is not None
        result.opened.append(Opened(alert.id, alert.device_id, alert.type, alert.severity))
    await session.flush()
    rejected.alert_id = alert.id
    session.add(
        event(
            alert,
            EventKind.UNREADABLE,
            now=now,
            actor=actor,
            said=say("timeline.alarm.payload", what=what, reason=item.reason.value,
                     detail=rejected.detail),
            raw=printable(item.payload.decode("utf-8", "replace"), RAW_PAYLOAD_ON_TIMELINE),
            rejected_message_id=rejected.id,
        )
    )
