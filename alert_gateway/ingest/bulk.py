"""The rows a batch adds, written with one statement per table instead of a round trip per row.

A storm brings hundreds of alarms per batch, nearly all opening a new alert. Building an ORM
object for each alert, entry, escalation and inbound row and flushing one alert at a time (to get
its id) cost about half a millisecond per alarm. Here new rows are plain column values: the
alerts go in with one INSERT … RETURNING, then their entries, escalations and inbound rows with
one statement each; with intake, the last alerts' entries and escalations are left to it, to go
in with its first step's rows (`OpenedRows`). An alert that a later message of the same batch
changes (a second alarm from the resident, a restore, a cancel) is loaded into the session first,
and the ORM takes over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, tuple_
from sqlalchemy.dialects import sqlite
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmType

from ..alerts.opening import alert_key, insert_alerts, opened_entries, starts_escalation
from ..db.models import Alert, AlertEvent, Escalation, InboundMessage
from ..escalation import hooks
from ..escalation.steprows import FILL_INBOUND, OpenedRows
from ..i18n.said import Said


@dataclass(frozen=True, slots=True)
class Opened:
    """An alert the batch opened, as it was opened (for metrics, the log and the engine)."""

    id: int
    device_id: str | None
    type: str
    severity: str


@dataclass(slots=True)
class NewAlert:
    """An alert opened by this batch, not yet written: its columns and its first entry."""

    values: dict[str, Any]  # from `new_alert_values`
    alarm_type: AlarmType
    actor: str
    said: Said
    data: dict[str, Any]
    id: int | None = None

    @property
    def key(self) -> str:
        """Its `alert_key`."""
        return alert_key(self.values["resident_id"], self.values["device_id"])


InboundKey = tuple[str, str, str]  # (device id, channel, message id): unique in inboundmessage
ClaimedValues = tuple[str | None, datetime | None]  # (alarm type, device time): known when claimed
_inbound = InboundMessage.__table__  # type: ignore[attr-defined]
KEY_COLUMNS = ("device_id", "channel", "message_id")
CLAIM_COLUMNS = (*KEY_COLUMNS, "received_at", "alarm_type", "device_ts")  # what a claim writes
# built once (building the statement cost as much as running it); PostgreSQL claims with the
# batch's read of its devices (claim_pg.py)
_CLAIM = (sqlite.insert(_inbound).on_conflict_do_nothing(index_elements=list(KEY_COLUMNS))
          .returning(*(_inbound.c[c] for c in ("id", *KEY_COLUMNS))))
_KEY = tuple_(*(_inbound.c[c] for c in KEY_COLUMNS))


def claim_values(claims: dict[InboundKey, ClaimedValues], *,
                 now: datetime) -> list[tuple[Any, ...]]:
    """Each claim's row, in the order of CLAIM_COLUMNS: what the message itself says (its alarm
    type and device time), only its alert left to fill in."""
    return [(d, c, m, now, alarm_type, device_ts)
            for (d, c, m), (alarm_type, device_ts) in claims.items()]


async def claim_inbound(session: AsyncSession, claims: dict[InboundKey, ClaimedValues], *,
                        now: datetime) -> dict[InboundKey, int]:
    """SQLite: claim each message key with INSERT … ON CONFLICT DO NOTHING RETURNING; the keys
    claimed, with their new row ids (the others were held already: `read_held`)."""
    if not claims:
        return {}
    rows = await session.exec(_CLAIM, params=[  # type: ignore[call-overload]
        dict(zip(CLAIM_COLUMNS, values, strict=True)) for values in claim_values(claims, now=now)])
    return {(r.device_id, r.channel, r.message_id): r.id for r in rows}


async def read_held(session: AsyncSession,
                    keys: list[InboundKey]) -> dict[InboundKey, InboundMessage]:
    """The stored rows of keys a claim found held (by us earlier, or by another replica, whose
    claim PostgreSQL waits on until it commits): a duplicate is known from the database, never
    guessed from an error."""
    if not keys:
        return {}
    found = await session.exec(select(InboundMessage).where(_KEY.in_(keys)))
    return {(m.device_id, m.channel, m.message_id): m for m in found.all()}


@dataclass(slots=True)
class NewInbound:
    """An accepted alarm or cancel whose key this batch claimed; its alert may be one it opens."""

    id: int  # its claimed inbound row, its alert filled in by `BatchRows.write`
    device_id: str
    channel: str
    message_id: str
    alarm_type: str | None
    received_at: datetime
    device_ts: datetime | None
    alert: Alert | NewAlert | None

    @property
    def alert_id(self) -> int | None:
        """The alert's id once it is written (None before, or when there is no alert)."""
        return self.alert.id if self.alert is not None else None


@dataclass
class BatchRows:
    """New alerts, entries and escalations, and the claimed inbound rows, written together by `write`."""

    session: AsyncSession
    now: datetime
    alerts: list[NewAlert] = field(default_factory=list)
    inbound: list[NewInbound] = field(default_factory=list)
    opened: list[Opened] = field(default_factory=list)
    deferred: OpenedRows = field(default_factory=OpenedRows)  # `write(defer=True)`: intake writes

    async def write(self, *, defer: bool = False) -> None:
        """Write what is pending: the alerts first (for their ids), then what refers to them.
        `defer`: the new alerts' entries and escalations go to `self.deferred` instead, for
        intake to write with their first step (an INSERT each, not an INSERT and an UPDATE), and
        so do the claimed messages' alerts (on PostgreSQL in the step's one statement)."""
        out = self.deferred if defer else OpenedRows()
        if self.alerts:
            ids = await insert_alerts(self.session, [a.values for a in self.alerts])
            for alert, alert_id in zip(self.alerts, ids, strict=True):
                alert.id = alert_id
                values = alert.values
                self.opened.append(Opened(alert_id, values["device_id"], values["type"],
                                          values["severity"]))
                out.alerts[alert_id] = SimpleNamespace(id=alert_id, acknowledged_at=None, **values)
                out.entries += opened_entries(alert_id, alert.alarm_type, now=self.now,
                                              actor=alert.actor, said=alert.said,
                                              data=alert.data, skew=values["clock_skew_seconds"])
                if starts_escalation(alert.alarm_type):
                    out.escalations[alert_id] = hooks.escalation_values(
                        alert_id, alert_type=values["type"], severity=values["severity"], now=self.now)
            self.alerts.clear()
        if not defer:
            await self._insert(AlertEvent, out.entries)
            await self._insert(Escalation, list(out.escalations.values()))
        routed = [{"b_id": i.id, "b_alert_id": i.alert_id} for i in self.inbound if i.alert_id]
        if defer:
            out.routed += routed
        elif routed:
            await self.session.exec(FILL_INBOUND, params=routed)  # type: ignore[call-overload]
        self.inbound.clear()

    async def load(self, alert: NewAlert) -> Alert:
        """The written alert as a session object, for a later message of the batch to change."""
        await self.write()
        loaded = await self.session.get(Alert, alert.id)
        assert loaded is not None
        return loaded

    async def _insert(self, model: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.exec(insert(model.__table__), params=rows)
