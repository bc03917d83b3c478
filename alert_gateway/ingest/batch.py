"""One ingest batch's shared state: rows loaded once for it, the rows it adds, what it changed."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmMessage, CancelMessage

from ..alerts import rules
from ..alerts.opening import load_active
from ..db.models import Alert, Device, InboundMessage
from ..escalation.intake import FirstSteps
from ..metrics import Metrics
from .bulk import (
    BatchRows,
    ClaimedValues,
    InboundKey,
    NewAlert,
    NewInbound,
    Opened,
    claim_inbound,
    read_held,
)
from .claim_pg import claim_and_read
from .devicerows import DEVICES_AND_MORE, DeviceRows
from .parse import Incoming, Rejection

log = logging.getLogger(__name__)


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

    def count(self, metrics: Metrics) -> None:
        """Messages by kind and result, and each alert this batch opened (logged at INFO)."""
        for (kind, outcome), n in self.outcomes.items():
            metrics.mqtt_messages.labels(kind=kind, result=outcome).inc(n)
        opened = Counter((alert.type, alert.severity) for alert in self.opened)
        for (alert_type, severity), n in opened.items():
            metrics.alerts_opened.labels(type=alert_type, severity=severity).inc(n)
        if log.isEnabledFor(logging.INFO):
            for alert in self.opened:
                log.info("alert opened", extra={"alert_id": alert.id, "device_id": alert.device_id,
                                                "type": alert.type, "severity": alert.severity})


@dataclass
class BatchContext:
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


async def write_added(ctx: BatchContext, result: BatchResult, *, defer: bool = False) -> None:
    """Write the rows added so far; alerts opened by them join `result.opened` in order.
    `defer`: their escalations and entries are left in `ctx.rows.deferred` for intake."""
    await ctx.rows.write(defer=defer)
    result.opened += ctx.rows.opened
    ctx.rows.opened.clear()


async def load_context(
    session: AsyncSession, items: Sequence[Incoming | Rejection], *, now: datetime) -> BatchContext:
    """Claim the batch's message keys, then read its devices with their active alerts and people
    in one query (the claim first: on PostgreSQL it waits for another replica's claim of the same
    key to commit, and the read that follows then sees the alert that replica opened; there both
    go in one statement, read again after it when a key was held)."""
    claims = {(i.device_id, i.channel.value, i.message.id): _claimed_values(i.message, now)
              for i in items
              if isinstance(i, Incoming) and isinstance(i.message, AlarmMessage | CancelMessage)}
    device_ids = sorted({i.device_id for i in items if i.device_id is not None})
    if claims and session.get_bind().dialect.name == "postgresql":
        claimed, rows = await claim_and_read(session, claims, device_ids, now=now)
        if len(claimed) < len(claims):
            rows = await _read_devices(session, device_ids)
    else:
        claimed = await claim_inbound(session, claims, now=now)
        rows = await _read_devices(session, device_ids)
    seen: dict[InboundKey, InboundMessage | NewInbound] = dict(
        await read_held(session, [k for k in claims if k not in claimed]))
    found = DeviceRows.of(rows)
    # an unregistered device's alarm still reaches the console
    unknown = set(device_ids) - found.devices.keys()
    if unknown:
        found.active.update(await load_active(session, resident_ids=(), lone_device_ids=unknown))
    batch_rows = BatchRows(session, now)
    batch_rows.deferred.people = found.people
    return BatchContext(found.devices, claimed, seen, dict(found.active), batch_rows)


async def _read_devices(session: AsyncSession, device_ids: list[str]) -> Sequence[Row[Any]]:
    if not device_ids:
        return []
    return cast("Sequence[Row[Any]]", (await session.exec(  # type: ignore[call-overload]
        DEVICES_AND_MORE, params={"device_ids": device_ids})).all())


def _claimed_values(message: AlarmMessage | CancelMessage, now: datetime) -> ClaimedValues:
    alarm_type = message.alarm_type.value if isinstance(message, AlarmMessage) else None
    return alarm_type, rules.storable_device_ts(message.ts, now)
