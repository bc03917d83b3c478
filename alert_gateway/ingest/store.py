"""Store one batch of accepted and rejected messages in a single transaction (load, decide, apply)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmMessage, AlarmType, CancelMessage, Channel

from ..alerts import rules
from ..alerts.actions import close_restored
from ..alerts.cancel import apply_cancel
from ..alerts.opening import alert_key as _alert_key
from ..alerts.opening import (
    attach,
    load_active,
    new_alert_values,
    note_test_signal,
    open_alert,
)
from ..alerts.opening import event as _event
from ..db.messages import RejectReason
from ..db.models import (
    Alert,
    AlertStatus,
    Device,
    EventKind,
    InboundMessage,
    RejectedMessage,
)
from ..escalation.intake import FirstSteps, Intake
from .bulk import BatchRows, InboundKey, NewAlert, NewInbound, Opened, claim_inbound
from .parse import Incoming, Rejection, printable

RAW_PAYLOAD_ON_TIMELINE = 1000  # characters of an unreadable alarm shown to the operator


@dataclass(frozen=True, slots=True)
class Receipt:
    """An alarm the device must be told we hold (sent as `received` on its feedback topic)."""

    device_id: str
    message_id: str
    alert_id: int | None


@dataclass
class BatchResult:
    """What the batch changed, for feedback and metrics, and the first steps it planned."""

    receipts: list[Receipt] = field(default_factory=list)
    cancelled: list[Receipt] = field(default_factory=list)
    opened: list[Opened] = field(default_factory=list)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, result)
    first_steps: FirstSteps = field(default_factory=FirstSteps)

    @property
    def changed_alert_ids(self) -> list[int]:
        """Alerts this batch opened or touched, each once, in order."""
        ids = [a.id for a in self.opened] + [r.alert_id for r in self.receipts + self.cancelled]
        return list(dict.fromkeys(i for i in ids if i is not None))


@dataclass
class _Context:
    """Rows loaded once for the whole batch, and the rows it adds (written together)."""

    devices: dict[str, Device]
    claimed: dict[InboundKey, int]  # keys this batch holds now: their inbound row ids
    seen: dict[InboundKey, InboundMessage | NewInbound]  # held before, or decided by this batch
    active_by_key: dict[str, Alert | NewAlert]  # resident id, or "device:<id>" for unregistered devices
    rows: BatchRows
    told: list[tuple[str, str, InboundMessage | NewInbound]] = field(default_factory=list)

    async def active(self, key: str) -> Alert | None:
        """The key's active alert as a session object (one this batch opened is written first)."""
        alert = self.active_by_key.get(key)
        if isinstance(alert, NewAlert):
            alert = self.active_by_key[key] = await self.rows.load(alert)
        return alert


async def store_batch(
    session: AsyncSession,
    items: Sequence[Incoming | Rejection],
    *,
    now: datetime,
    skew_limit: int,
    cancel_min_seconds: int,
    cancel_grace_seconds: int,
    intake: Intake | None = None,
) -> BatchResult:
    """Persist alarms, cancels and rejections, and with `intake` plan the escalations they started
    or changed and claim their urgent sends; the caller commits, then acknowledges to the broker."""
    result = BatchResult()
    ctx = await _load(session, items, now=now)
    for item in items:
        if isinstance(item, Rejection):
            await _reject(session, ctx, item, now=now, result=result)
        elif isinstance(item.message, AlarmMessage):
            await _alarm(session, ctx, item, item.message, now=now, skew_limit=skew_limit, result=result)
        elif isinstance(item.message, CancelMessage):
            await _cancel(
                session,
                ctx,
                item,
                item.message,
                now=now,
                result=result,
                min_seconds=cancel_min_seconds,
                grace_seconds=cancel_grace_seconds,
            )
    await _write(ctx, result)
    result.receipts = [Receipt(device, msg_id, inbound.alert_id) for device, msg_id, inbound in ctx.told]
    if intake is not None:
        result.first_steps = await intake.plan(session, result.changed_alert_ids, now=now)
    return result


async def _write(ctx: _Context, result: BatchResult) -> None:
    """Write the rows added so far; alerts opened by them join `result.opened` in order."""
    await ctx.rows.write()
    result.opened += ctx.rows.opened
    ctx.rows.opened.clear()


async def _load(session: AsyncSession, items: Sequence[Incoming | Rejection], *, now: datetime) -> _Context:
    device_ids = {i.device_id for i in items if i.device_id is not None}
    devices = {}
    if device_ids:
        rows = await session.exec(select(Device).where(col(Device.id).in_(device_ids)))
        devices = {d.id: d for d in rows.all()}
    keys = list(dict.fromkeys(
        (i.device_id, i.channel.value, i.message.id)
        for i in items
        if isinstance(i, Incoming) and isinstance(i.message, AlarmMessage | CancelMessage)
    ))
    claimed, held = await claim_inbound(session, keys, now=now)
    seen: dict[InboundKey, InboundMessage | NewInbound] = dict(held)
    resident_ids = {d.resident_id for d in devices.values() if d.resident_id}
    lone = {d for d in device_ids if d not in devices or not devices[d].resident_id}
    active: dict[str, Alert | NewAlert] = dict(
        await load_active(session, resident_ids=resident_ids, lone_device_ids=lone)
    )
    return _Context(devices, claimed, seen, active, BatchRows(session, now))


async def _alarm(
    session: AsyncSession,
    ctx: _Context,
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
    ctx: _Context,
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
    note = " from an unregistered device" if unregistered else ""
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
        message=f"{alarm_type.value} alarm received{note}",
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
        message=f"further {alarm_type.value} alarm",
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
            message=f"{alarm_type.value} restored" + (": closed" if closes else ""),
            message_id=msg.id,
            closed=closes,
        )
    )
    if closes:
        await close_restored(session, active, now=now)
    return active


async def _cancel(
    session: AsyncSession,
    ctx: _Context,
    item: Incoming,
    msg: CancelMessage,
    *,
    now: datetime,
    result: BatchResult,
    min_seconds: int,
    grace_seconds: int,
) -> None:
    key = (item.device_id, Channel.CANCEL.value, msg.id)
    if key in ctx.seen:
        result.outcomes[("cancel", "duplicate")] += 1
        return
    await _write(ctx, result)  # the alarm it cancels may be in this batch
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


async def _reject(
    session: AsyncSession, ctx: _Context, item: Rejection, *, now: datetime, result: BatchResult
) -> None:
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
    what = "unstorable" if item.reason is RejectReason.UNSTORABLE else "unreadable"
    await _write(ctx, result)  # alerts opened earlier in this batch get their entries first
    device = ctx.devices.get(item.device_id)
    resident_id = device.resident_id if device else None
    actor = f"device:{item.device_id}"
    alert = await ctx.active(_alert_key(resident_id, item.device_id))
    if alert is None:  # if in doubt, go out: an unreadable alarm is a P1
        routed = await open_alert(
            session,
            resident_id=resident_id,
            device_id=item.device_id,
            alarm_type=AlarmType.UNKNOWN,
            unregistered=device is None,
            now=now,
            actor=actor,
            message=f"{what} alarm received",
            data={},
        )
        alert = routed.alert
        ctx.active_by_key[_alert_key(resident_id, item.device_id)] = alert
        assert alert.id is not None
        result.opened.append(Opened(alert.id, alert.device_id, alert.type, alert.severity))
    await session.flush()
    rejected.alert_id = alert.id
    session.add(
        _event(
            alert,
            EventKind.UNREADABLE,
            now=now,
            actor=actor,
            message=f"{what} alarm payload ({item.reason.value}): {rejected.detail}",
            raw=printable(item.payload.decode("utf-8", "replace"), RAW_PAYLOAD_ON_TIMELINE),
            rejected_message_id=rejected.id,
        )
    )
