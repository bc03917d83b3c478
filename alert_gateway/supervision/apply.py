"""Write what a supervision check decided, inside its one transaction, through the shared opener."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmType

from ..alerts.actions import close_restored
from ..alerts.opening import alert_key, event, further, open_alert, open_or_attach
from ..bus import ChangeKind
from ..db.models import Alert, AlertStatus, EventKind
from ..escalation import hooks
from ..i18n.said import Said, say
from .decide import Condition, DeviceView, MarkState
from .state import ACTOR, Marks, mark, only_supervision

log = logging.getLogger(__name__)


@dataclass
class SupervisionReport:
    """What one check changed (tests read it; the loop logs it)."""

    went_offline: list[str] = field(default_factory=list)
    came_back: list[str] = field(default_factory=list)
    low_battery: list[str] = field(default_factory=list)
    battery_ok: list[str] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)  # resident ids
    active_again: list[str] = field(default_factory=list)
    covered: list[str] = field(default_factory=list)  # offline devices held by a mass outage
    outage_opened: int | None = None
    outage_resolved: int | None = None
    opened: list[Alert] = field(default_factory=list)
    changed: dict[int, ChangeKind] = field(default_factory=dict)  # alert id → change kind
    offline_count: int = 0


class Applier:
    """Applies decisions for one check; keeps the active-alert map current as alerts open."""

    def __init__(self, session: AsyncSession, *, now: datetime, active: dict[str, Alert],
                 marks: Marks, report: SupervisionReport) -> None:
        self.session, self.now, self.active, self.marks = session, now, active, marks
        self.report = report

    async def raise_(self, *, resident_id: str, device_id: str | None, alarm_type: AlarmType,
                     said: Said, data: dict[str, Any]) -> Alert:
        """Open or attach, by the same rule as an alarm from the device itself."""
        key = alert_key(resident_id, device_id)
        routed = await open_or_attach(
            self.session, active=self.active.get(key), resident_id=resident_id,
            device_id=device_id, alarm_type=alarm_type, unregistered=False, now=self.now,
            actor=ACTOR, said=said, data=data, attach_said=further(said))
        if routed.opened:
            self.active[key] = routed.alert
            self.report.opened.append(routed.alert)
        assert routed.alert.id is not None
        kind = ChangeKind.OPENED if routed.opened else ChangeKind.ALARM
        self.report.changed.setdefault(routed.alert.id, kind)
        return routed.alert

    async def device_offline(self, device: DeviceView, reason: str, silent_seconds: int) -> None:
        """One technical alert per offline episode (the online flag was flipped by the caller)."""
        said = (say("timeline.device.offline_will", device=device.id) if reason == "status"
                else say("timeline.device.offline_silent", device=device.id,
                         seconds=silent_seconds))
        await self.raise_(resident_id=device.resident_id or "", device_id=device.id,
                          alarm_type=AlarmType.DEVICE_OFFLINE,
                          said=said,
                          data=mark(Condition.DEVICE_OFFLINE, MarkState.RAISED,
                                    device_ids=[device.id], reason=reason,
                                    raw_type=AlarmType.DEVICE_OFFLINE.value))
        log.info("device offline", extra={"device_id": device.id, "reason": reason,
                                          "resident_id": device.resident_id})

    async def device_back(self, device: DeviceView, still_offline: Collection[str]) -> None:
        """Timeline entry on the alert that holds the episode; closes one that was only that."""
        log.info("device back online", extra={"device_id": device.id})
        held = self.marks.get(Condition.DEVICE_OFFLINE, device.id)
        if held is None or held.state is MarkState.CLEARED:
            return
        alert = held.alert
        if alert.status == AlertStatus.RESOLVED.value or alert.type == AlarmType.MASS_OUTAGE.value:
            return  # closed by an operator, or the incident notes it in one entry
        others = [d for (c, d), m in self.marks.latest.items() if c is Condition.DEVICE_OFFLINE
                  and m.alert.id == alert.id and m.state is not MarkState.CLEARED and d != device.id
                  and d in still_offline]
        closes = (alert.type == AlarmType.DEVICE_OFFLINE.value and not others
                  and await only_supervision(self.session, alert, Condition.DEVICE_OFFLINE))
        self.session.add(event(alert, EventKind.DEVICE_BACK, now=self.now, actor=ACTOR,
                               said=say("timeline.device.back_closed" if closes
                                        else "timeline.device.back", device=device.id),
                               **mark(Condition.DEVICE_OFFLINE, MarkState.CLEARED,
                                      device_ids=[device.id], closed=closes)))
        if closes:
            await close_restored(self.session, alert, now=self.now)
        alert.updated_at = self.now
        assert alert.id is not None
        self.report.changed[alert.id] = ChangeKind.DEVICE_BACK

    async def battery(self, device: DeviceView, state: MarkState, threshold: int) -> None:
        """Raise once below the threshold; note (and close a battery-only alert) when replaced."""
        extra: dict[str, Any] = {"battery": device.battery, "threshold": threshold}
        if state is MarkState.RAISED:
            await self.raise_(resident_id=device.resident_id or "", device_id=device.id,
                              alarm_type=AlarmType.LOW_BATTERY,
                              said=say("timeline.device.battery", device=device.id,
                                       battery=device.battery),
                              data=mark(Condition.LOW_BATTERY, MarkState.RAISED,
                                        device_ids=[device.id],
                                        raw_type=AlarmType.LOW_BATTERY.value, **extra))
            self.report.low_battery.append(device.id)
            log.info("low battery", extra={"device_id": device.id, "battery": device.battery})
            return
        held = self.marks.get(Condition.LOW_BATTERY, device.id)
        self.report.battery_ok.append(device.id)
        if held is None or held.alert.status == AlertStatus.RESOLVED.value:
            return
        closes = (held.alert.type == AlarmType.LOW_BATTERY.value
                  and await only_supervision(self.session, held.alert, Condition.LOW_BATTERY))
        await self._restored(held.alert, "timeline.device.battery",
                             {"device": device.id, "battery": device.battery},
                             mark(Condition.LOW_BATTERY, MarkState.CLEARED,
                                  device_ids=[device.id], closed=closes, **extra), closes)

    async def inactivity(self, resident_id: str, state: MarkState, *, hours: float,
                         last_activity_at: datetime) -> None:
        """A P1 for a quiet home; activity afterwards is noted but never closes a P1."""
        data = mark(Condition.INACTIVITY, state, resident_id=resident_id, window_hours=hours,
                    last_activity_at=last_activity_at.isoformat())
        if state is MarkState.RAISED:
            await self.raise_(resident_id=resident_id, device_id=None,
                              alarm_type=AlarmType.INACTIVITY,
                              said=say("timeline.device.inactivity", hours=f"{hours:g}"),
                              data={**data, "raw_type": AlarmType.INACTIVITY.value})
            self.report.inactive.append(resident_id)
            log.info("inactivity", extra={"resident_id": resident_id, "hours": hours})
            return
        held = self.marks.get(Condition.INACTIVITY, resident_id)
        self.report.active_again.append(resident_id)
        if held is not None and held.alert.status != AlertStatus.RESOLVED.value:
            await self._restored(held.alert, "timeline.device.active_again", {}, data,
                                 closes=False)

    async def _restored(self, alert: Alert, key: str, params: dict[str, Any],
                        data: dict[str, Any], closes: bool) -> None:
        """`key` names the text; its `_closed` variant says the alert closes with it."""
        said = Said(f"{key}_closed" if closes else key, params)
        self.session.add(event(alert, EventKind.RESTORED, now=self.now, actor=ACTOR,
                               said=said, **data))
        if closes:
            await close_restored(self.session, alert, now=self.now)
        alert.updated_at = self.now
        assert alert.id is not None
        self.report.changed[alert.id] = ChangeKind.RESTORED

    async def open_outage(self, devices: Collection[str], population: int) -> Alert:
        """One incident for ops: no resident, no escalation (mass_outage does not escalate)."""
        routed = await open_alert(
            self.session, resident_id=None, device_id=None, alarm_type=AlarmType.MASS_OUTAGE,
            unregistered=False, now=self.now, actor=ACTOR,
            said=say("timeline.device.outage", count=len(devices), population=population),
            data=mark(Condition.MASS_OUTAGE, MarkState.COVERED, device_ids=devices,
                      population=population, raw_type=AlarmType.MASS_OUTAGE.value))
        assert routed.alert.id is not None
        self.report.opened.append(routed.alert)
        self.report.outage_opened = routed.alert.id
        self.report.changed[routed.alert.id] = ChangeKind.OPENED
        log.warning("mass outage", extra={"alert_id": routed.alert.id, "devices": len(devices),
                                          "population": population})
        return routed.alert

    async def fold(self, device_id: str, incident: Alert) -> None:
        """A device alert opened just before the outage showed: stop its escalation, point to it."""
        held = self.marks.get(Condition.DEVICE_OFFLINE, device_id)
        if held is None or held.state is not MarkState.RAISED:
            return
        alert = held.alert
        if alert.status == AlertStatus.RESOLVED.value or alert.type != AlarmType.DEVICE_OFFLINE.value:
            return  # a bigger alert keeps escalating: the resident may really need help
        assert alert.id is not None
        await hooks.stop(self.session, alert.id, now=self.now)
        self.session.add(event(alert, EventKind.NOTE, now=self.now, actor=ACTOR,
                               said=say("timeline.device.outage_part", incident=incident.id),
                               incident_id=incident.id))
        self.report.changed[alert.id] = ChangeKind.NOTE

    async def outage_update(self, incident: Alert, *, cover: Collection[str],
                            back: Collection[str], resolve: bool) -> None:
        """More devices joining, devices back (one entry per check), and the end of the outage."""
        if cover:
            self.session.add(event(incident, EventKind.ALARM, now=self.now, actor=ACTOR,
                                   said=say("timeline.device.outage_more", count=len(cover)),
                                   **mark(Condition.MASS_OUTAGE, MarkState.COVERED,
                                          device_ids=cover)))
        if back:
            self.session.add(event(incident, EventKind.DEVICE_BACK, now=self.now, actor=ACTOR,
                                   said=say("timeline.device.outage_back", count=len(back)),
                                   **mark(Condition.MASS_OUTAGE, MarkState.CLEARED,
                                          device_ids=back)))
        if resolve:
            self.session.add(event(incident, EventKind.RESOLVED, now=self.now, actor=ACTOR,
                                   said=say("timeline.device.outage_over")))
            await close_restored(self.session, incident, now=self.now)
            self.report.outage_resolved = incident.id
            log.info("mass outage over", extra={"alert_id": incident.id})
        if cover or back or resolve:
            incident.updated_at = self.now
            assert incident.id is not None
            self.report.changed.setdefault(incident.id, ChangeKind.OUTAGE)
