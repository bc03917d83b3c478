"""A resident's cancel from a device, in the batch that stores it: matched to its alarm, then
honoured or refused by alerts.cancel."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmType, CancelMessage, Channel

from ..alerts import rules
from ..alerts.cancel import apply_cancel
from ..db.models import Alert, InboundMessage
from .batch import BatchContext, BatchResult, Receipt, write_added
from .bulk import NewInbound
from .parse import Incoming


async def store_cancel(
    session: AsyncSession,
    ctx: BatchContext,
    item: Incoming,
    msg: CancelMessage,
    *,
    now: datetime,
    result: BatchResult,
    min_seconds: int,
    grace_seconds: int,
) -> None:
    """Record the cancel once; a cancel whose alarm is unknown is kept as unmatched."""
    key = (item.device_id, Channel.CANCEL.value, msg.id)
    if key in ctx.seen:
        result.outcomes[("cancel", "duplicate")] += 1
        return
    await write_added(ctx, result)  # the alarm it cancels may be in this batch
    alarm: InboundMessage | NewInbound | None = ctx.seen.get(
        (item.device_id, Channel.ALARM.value, msg.alarm_id)
    )
    if alarm is None:
        rows = await session.exec(
            select(InboundMessage).where(
                InboundMessage.device_id == item.device_id,
                InboundMessage.channel == Channel.ALARM.value,
                InboundMessage.message_id == msg.alarm_id,
            )
        )
        alarm = rows.first()
    alert = await session.get(Alert, alarm.alert_id) if alarm and alarm.alert_id else None
    inbound = NewInbound(
        id=ctx.claimed[key],
        device_id=item.device_id,
        channel=Channel.CANCEL.value,
        message_id=msg.id,
        alarm_type=None,
        received_at=now,
        device_ts=rules.storable_device_ts(msg.ts, now),
        alert=alert,
    )
    ctx.rows.inbound.append(inbound)
    ctx.seen[key] = inbound
    if alert is None or alarm is None:
        result.outcomes[("cancel", "unmatched")] += 1
        return
    accepted = await apply_cancel(
        session,
        alert,
        alarm_received_at=alarm.received_at,
        alarm_type=AlarmType(alarm.alarm_type or AlarmType.UNKNOWN),
        actor=f"device:{item.device_id}",
        now=now,
        min_seconds=min_seconds,
        grace_seconds=grace_seconds,
    )
    result.outcomes[("cancel", "accepted" if accepted else "refused")] += 1
    if accepted:
        result.cancelled.append(Receipt(item.device_id, msg.alarm_id, alert.id))
