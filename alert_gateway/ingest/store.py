"""Store one batch of accepted and rejected messages in a single transaction (load, decide, apply).

Alarms are routed here; cancels (cancels.py) and rejections (rejections.py) have modules of their
own, and the batch's shared state is in batch.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmMessage, AlarmType, CancelMessage, Channel

from ..alerts import rules
from ..alerts.actions import close_restored
from ..alerts.opening import alert_key as _alert_key
from ..alerts.opening import attach, new_alert_values, note_test_signal
from ..alerts.opening import event as _event
from ..db.models import Alert, AlertStatus, Device, EventKind
from ..escalation.intake import Intake
from ..i18n.said import say, term
from .batch import BatchContext, BatchResult, Receipt, load_context, write_added
from .bulk import NewAlert, NewInbound
from .cancels import store_cancel
from .parse import Incoming, Rejection
from .rejections import store_rejection


async def store_batch(
    session: AsyncSession,
    items: Sequence[Incoming | Rejection],
    *,
    now: datetime,
    skew_limit: int,
    cancel_min_seconds: int,
    cancel_grace_seconds: int,
    intake: Intake | None = None,
    storm: bool = False,
) -> BatchResult:
    """Persist alarms, cancels and rejections, and with `intake` plan the escalations they started
    or changed and claim their urgent sends (`storm`: a storm waits to be stored); the caller
    commits, then acknowledges to the broker."""
    result = BatchResult()
    ctx = await load_context(session, items, now=now)
    for item in items:
        if isinstance(item, Rejection):
            await store_rejection(session, ctx, item, now=now, result=result)
        elif isinstance(item.message, AlarmMessage):
            await _alarm(session, ctx, item, item.message, now=now, skew_limit=skew_limit, result=result)
        elif isinstance(item.message, CancelMessage):
            await store_cancel(
                session,
                ctx,
                item,
                item.message,
                now=now,
                result=result,
                min_seconds=cancel_min_seconds,
                grace_seconds=cancel_grace_seconds,
            )
    await write_added(ctx, result, defer=intake is not None)
    result.receipts = [Receipt(device, msg_id, inbound.alert_id) for device, msg_id, inbound in ctx.told]
    if intake is not None:  # it writes the opened alerts' escalations and entries too
        result.first_steps = await intake.plan(session, result.changed_alert_ids, now=now,
                                               storm=storm, opened=ctx.rows.deferred)
    return result


async def _alarm(
    session: AsyncSession,
    ctx: BatchContext,
    item: Incoming,
    msg: AlarmMessage,
    *,
    now: datetime,
    skew_limit: int,
    result: BatchResult,
) -> None:
    key = (item.device_id, Channel.ALARM.value, msg.id)
    if key in ctx.seen:  # a repeat of an alarm we hold: tell the device again, change nothing
        ctx.told.append((item.device_id, msg.id, ctx.seen[key]))
        result.outcomes[("alarm", "duplicate")] += 1
        return
    device = ctx.devices.get(item.device_id)
    if device is not None and msg.battery is not None:
        device.battery = msg.battery
    alarm_type = msg.alarm_type
    alert = await _route_alarm(
        session, ctx, item, msg, alarm_type, device, now=now, skew_limit=skew_limit, result=result
    )
    inbound = NewInbound(
        id=ctx.claimed[key],
        device_id=item.device_id,
        channel=Channel.ALARM.value,
        message_id=msg.id,
        alarm_type=alarm_type.value,
        received_at=now,
        device_ts=rules.storable_device_ts(msg.ts, now),
        alert=alert,
    )
    ctx.rows.inbound.append(inbound)
    ctx.seen[key] = inbound
    ctx.told.append((item.device_id, msg.id, inbound))
    result.outcomes[("alarm", "accepted")] += 1


async def _route_alarm(
    session: AsyncSession,
    ctx: BatchContext,
    item: Incoming,
    msg: AlarmMessage,
    alarm_type: AlarmType,
    device: Device | None,
    *,
    now: datetime,
    skew_limit: int,
    result: BatchResult,
) -> Alert | NewAlert | None:
    """Open a new alert, attach to the resident's active one, or close a P3 on restore."""
    resident_id = device.resident_id if device else None
    actor = f"device:{item.device_id}"
    key = _alert_key(resident_id, item.device_id)
    if rules.is_restore(msg.qualifier):
        active = await ctx.active(key)
        return await _restore(session, active, msg, alarm_type, actor, now=now, result=result)
    if key in ctx.active_by_key and not rules.is_logged_only(alarm_type):
        active = await ctx.active(key)
        assert active is not None
        await _attach(session, active, msg, alarm_type, actor, now=now, result=result)
        return active
    alert = _open(item, msg, alarm_type, device, now=now, skew_limit=skew_limit)
    ctx.rows.alerts.append(alert)
    if alert.values["status"] != AlertStatus.RESOLVED.value:
        ctx.active_by_key[key] = alert
    return alert


def _open(
    item: Incoming,
    msg: AlarmMessage,
    alarm_type: AlarmType,
    device: Device | None,
    *,
    now: datetime,
    skew_limit: int,
) -> NewAlert:
    """`open_alert` for a batch: the alert is written with the batch's others."""
    unregistered = device is None
    note_test_signal(device, alarm_type, now=now)
    values = new_alert_values(
        resident_id=device.resident_id if device else None,
        device_id=item.device_id,
        alarm_type=alarm_type,
        unregistered=unregistered,
        now=now,
        raw_type=None if alarm_type is not AlarmType.UNKNOWN else msg.type,
        source_message_id=msg.id,
        device_ts=rules.storable_device_ts(msg.ts, now),
        skew=rules.clock_skew_seconds(msg.ts, now, skew_limit),
    )
    return NewAlert(
        values,
        alarm_type,
        actor=f"device:{item.device_id}",
        said=say("timeline.alarm.received_unregistered" if unregistered
                 else "timeline.alarm.received", alarm=term(f"alarm.{alarm_type.value}")),
        data={
            "message_id": msg.id,
            "raw_type": msg.type,
            "qualifier": msg.qualifier.value,
            "device_ts": msg.ts.isoformat(),
            "battery": msg.battery,
            "data": msg.data,
        },
    )


async def _attach(
    session: AsyncSession,
    alert: Alert,
    msg: AlarmMessage,
    alarm_type: AlarmType,
    actor: str,
    *,
    now: datetime,
    result: BatchResult,
) -> None:
    await attach(
        session,
        alert,
        alarm_type=alarm_type,
        now=now,
        actor=actor,
        said=say("timeline.alarm.further", alarm=term(f"alarm.{alarm_type.value}")),
        data={"message_id": msg.id, "raw_type": msg.type, "qualifier": msg.qualifier.value},
    )


async def _restore(
    session: AsyncSession,
    active: Alert | None,
    msg: AlarmMessage,
    alarm_type: AlarmType,
    actor: str,
    *,
    now: datetime,
    result: BatchResult,
) -> Alert | None:
    if active is None:
        result.outcomes[("alarm", "restore_unmatched")] += 1
        return None
    closes = active.type == alarm_type.value and rules.restore_may_close(active.severity)
    session.add(
        _event(
            active,
            EventKind.RESTORED,
            now=now,
            actor=actor,
            said=say("timeline.alarm.restored_closed" if closes else "timeline.alarm.restored",
                     alarm=term(f"alarm.{alarm_type.value}")),
            message_id=msg.id,
            closed=closes,
        )
    )
    if closes:
        await close_restored(session, active, now=now)
    return active


