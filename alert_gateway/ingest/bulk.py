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
from sqlalchemy.dialects import postgresql, sqlite
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
_inbound = InboundMessage.__table__  # type: ignore[attr-defined]
_KEY_COLUMNS = ["device_id", "channel", "message_id"]
def _claim(dialect_insert: Any) -> Any:
    return (dialect_insert(_inbound).on_conflict_do_nothing(index_elements=_KEY_COLUMNS)
            .returning(_inbound.c.id, _inbound.c.device_id, _inbound.c.channel,
                       _inbound.c.message_id))


# by dialect name, built once (building the statement cost as much as running it)
_CLAIMS = {"postgresql": _claim(postgresql.insert), "sqlite": _claim(sqlite.insert)}
ClaimedValues = tuple[str | None, datetime | None]  # (alarm type, device time): known when claimed


async def claim_inbound(
    session: AsyncSession, claims: dict[InboundKey, ClaimedValues], *, now: datetime
) -> tuple[dict[InboundKey, int], dict[InboundKey, InboundMessage]]:
    """Claim each message key with INSERT … ON CONFLICT DO NOTHING RETURNING, writing what the
    message itself says (its alarm type and device time): only its alert is left to fill in.

    Returns the claimed keys (their new row ids) and, for the keys already held (by us earlier
    or by another replica, whose claim PostgreSQL waits on until it commits), their stored rows:
    a duplicate is known from the database, never guessed from an error.
    """
    if not claims:
        return {}, {}
    connection = await session.connection()
    rows = await session.exec(_CLAIMS[connection.dialect.name], params=[  # type: ignore[call-overload]
        {"device_id": d, "channel": c, "message_id": m, "received_at": now, "alarm_type": alarm_type,
         "device_ts": device_ts} for (d, c, m), (alarm_type, device_ts) in claims.items()
    ])
    claimed = {(r.device_id, r.channel, r.message_id): r.id for r in rows}
    held = [k for k in claims if k not in claimed]
    if not held:
        return claimed, {}
    key = tuple_(InboundMessage.device_id, InboundMessage.channel, InboundMessage.message_id)
    found = await session.exec(select(InboundMessage).where(key.in_(held)))
    return claimed, {(m.device_id, m.channel, m.message_id): m for m in found.all()}


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
