"""Device and resident supervision: one check loads, decides with pure rules, applies, commits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..alerts.opening import load_active
from ..bus import AlertBus, AlertChange
from ..clock import Clock
from ..db.engine import SessionFactory
from ..db.models import AlertStatus, Resident
from ..ingest.pipeline import IngestPipeline
from ..metrics import Metrics
from ..settings import Settings
from ..unit_of_work import unit_of_work
from .apply import Applier, SupervisionReport
from .decide import (
    Condition,
    DeviceView,
    GoOffline,
    GoOnline,
    MarkState,
    OutageRule,
    decide_battery,
    decide_inactivity,
    decide_link,
    decide_outage,
    outage_may_open,
    watch_window,
)
from .notes import DeviceNotes, Taken
from .state import (
    Marks,
    active_incident,
    candidate_devices,
    load_marks,
    residents_with_marks,
    set_online,
    supervised_count,
    watched_residents,
)

log = logging.getLogger(__name__)
PG_LOCK_KEY = 0x5E5E_0005  # one replica supervises at a time; the others skip that round


class Supervisor:
    """Runs `check(now)` every `supervision_check_seconds`, and at once when a last will arrives."""

    def __init__(self, settings: Settings, clock: Clock, sessions: SessionFactory, bus: AlertBus,
                 metrics: Metrics, ingest: IngestPipeline) -> None:
        self._settings = settings
        self._clock = clock
        self._sessions = sessions
        self._bus = bus
        self._metrics = metrics
        self._ingest = ingest  # its device events wake us; its buffer holds unflushed sightings
        self.notes = DeviceNotes()
        ingest.device_listeners.append(self.notes)
        self._lock = asyncio.Lock()  # the loop and a test's direct call never interleave

    async def run(self, stop: asyncio.Event) -> None:
        """Gateway task: check, then sleep until the next check, a last will, or stop."""
        stopper = asyncio.ensure_future(self._poke_on(stop))
        try:
            while not stop.is_set():
                now = self._clock.now()
                try:
                    await self.check(now)
                except Exception:
                    log.exception("supervision check failed; will retry")
                next_check = now + timedelta(seconds=self._settings.supervision_check_seconds)
                await self._clock.wait(next_check, self.notes.wake)
                self.notes.wake.clear()
        finally:
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper

    async def _poke_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.notes.wake.set()

    async def check(self, now: datetime) -> SupervisionReport:
        """One round over every supervised device and watched resident; commits, then publishes."""
        async with self._lock:
            taken = self.notes.take()
            try:
                async with unit_of_work(self._sessions, self._bus) as uow:
                    if not await self._leader(uow.session):
                        self.notes.give_back(taken)
                        return SupervisionReport()
                    report = await self._check(uow.session, taken, now)
                    uow.extend(AlertChange(alert_id, kind) for alert_id, kind in report.changed.items())
            except Exception:
                self.notes.give_back(taken)
                raise
        self._metrics.devices_offline.set(report.offline_count)
        for alert in report.opened:
            self._metrics.alerts_opened.labels(type=alert.type,
                                                        severity=alert.severity).inc()
            log.info("alert opened", extra={"alert_id": alert.id, "device_id": alert.device_id,
                                            "type": alert.type, "severity": alert.severity})
        return report

    async def _leader(self, session: AsyncSession) -> bool:
        """On PostgreSQL, a transaction advisory lock keeps replicas from raising twice."""
        bind = session.bind
        if bind is None or bind.dialect.name != "postgresql":
            return True
        lock = select(func.pg_try_advisory_xact_lock(PG_LOCK_KEY))
        return bool((await session.exec(lock)).one())

    async def _check(self, session: AsyncSession, taken: Taken, now: datetime) -> SupervisionReport:
        s = self._settings
        report = SupervisionReport()
        threshold, hyst = s.low_battery_percent, s.low_battery_hysteresis_percent
        with_alerts = await residents_with_marks(session)
        # Read once per check. A replica that is not listening right now (its broker link is
        # down) decides no silence at all: it cannot tell a silent device from a lost heartbeat.
        listening_since = self._ingest.connection.listening_since
        # load only devices a rule could decide about, never every row (100,000s of devices)
        loaded = await candidate_devices(
            session, now=now, tolerance=s.offline_tolerance_intervals,
            listening_since=listening_since, battery_below=threshold + hyst,
            resident_ids=with_alerts,
            device_ids=taken.offline.keys() | taken.activity.keys())
        devices = [self._with_unflushed(d) for d in loaded]
        by_id = {d.id: d for d in devices}
        await _note_activity(session, taken, by_id)

        went: dict[str, GoOffline] = {}
        back: dict[str, GoOnline] = {}
        for device in devices:
            change = decide_link(device, now=now, tolerance=s.offline_tolerance_intervals,
                                 status_offline_at=taken.offline.get(device.id),
                                 listening_since=listening_since)
            if isinstance(change, GoOffline):
                went[device.id] = change
            elif isinstance(change, GoOnline):
                back[device.id] = change
        # the transition time doubles as the offline-since stamp for the outage window
        await set_online(session, {d: (False, c.at) for d, c in went.items()}
                         | {d: (True, now) for d in back})
        offline_since = {d.id: d.offline_since or now for d in devices
                         if not d.online and d.id not in back}
        offline_since.update({d: c.at for d, c in went.items()})
        report.went_offline, report.came_back = sorted(went), sorted(back)
        report.offline_count = len(offline_since)

        incident, held = await active_incident(session)
        rule = OutageRule(s.mass_outage_fraction, timedelta(seconds=s.mass_outage_window_seconds),
                          s.mass_outage_min_devices, s.mass_outage_resolve_fraction)
        # counting every supervised device costs a full scan (about 0.6 s at 1,000,000 on
        # SQLite, holding its one connection): only when the rule could use the answer
        population = 0
        if incident is None and outage_may_open(offline_since, now=now, rule=rule):
            population = await supervised_count(session)
        outage = decide_outage(
            population=population, offline_since=offline_since, newly_offline=went,
            newly_online=back, covered=held if incident else None, now=now, rule=rule)

        residents = await watched_residents(
            session, now=now, default_hours=s.activity_watch_default_hours,
            min_hours=s.activity_watch_min_hours, resident_ids=with_alerts)
        overdue = {r.id for r in residents if _quiet_for(r, s, now)}
        low = {d.id for d in devices if d.battery is not None and d.battery < threshold + hyst}
        mark_residents = with_alerts | overdue | {
            by_id[d].resident_id or "" for d in low | set(back) | outage.cover}
        marks = await load_marks(session, resident_ids=mark_residents - {""},
                                 alert_ids=[incident.id] if incident and incident.id else [])
        touched = {d.resident_id or "" for d in devices if d.id in went or d.id in low}
        active = await load_active(session, resident_ids=(touched | overdue) - {""},
                                   lone_device_ids=())
        apply = Applier(session, now=now, active=active, marks=marks, report=report)

        if outage.open:
            incident = await apply.open_outage(outage.cover, population)
            for device_id in sorted(outage.cover - set(went)):
                await apply.fold(device_id, incident)
        elif incident is not None:
            await apply.outage_update(incident, cover=outage.cover, back=outage.back,
                                      resolve=outage.resolve)
        report.covered = sorted(outage.cover)
        for device_id in sorted(set(went) - outage.cover):
            change = went[device_id]
            silent = int((now - (by_id[device_id].last_seen_at or now)).total_seconds())
            await apply.device_offline(by_id[device_id], change.reason, silent)
        for device_id in sorted(back):
            await apply.device_back(by_id[device_id], offline_since)

        for device in sorted(devices, key=lambda d: d.id):
            battery_mark = marks.get(Condition.LOW_BATTERY, device.id)
            # an alert an operator closed while the battery is still low stays raised (no repeat)
            raised = (battery_mark is not None and battery_mark.state is MarkState.RAISED and (
                battery_mark.alert.status != AlertStatus.RESOLVED.value or device.id in low))
            state = decide_battery(device.battery, raised=raised, threshold=threshold,
                                   hysteresis=hyst)
            if state is not None:
                await apply.battery(device, state, threshold)

        for resident in residents:
            await _inactivity(apply, marks, resident, now, s)
        return report

    def _with_unflushed(self, device: DeviceView) -> DeviceView:
        """Last seen as the newest of the stored row and a sighting not flushed yet."""
        buffered = self._ingest.heartbeats.seen_at(device.id)
        if buffered is None or (device.last_seen_at is not None and buffered <= device.last_seen_at):
            return device
        return replace(device, last_seen_at=buffered)


def _window(resident: Resident, s: Settings) -> timedelta | None:
    return watch_window(resident.activity_watch_hours, default_hours=s.activity_watch_default_hours,
                        min_hours=s.activity_watch_min_hours)


def _last_activity(resident: Resident) -> datetime:
    # a watch with no activity yet counts from sign-up, so a silent sensor is still noticed
    return resident.last_activity_at or resident.created_at


def _quiet_for(resident: Resident, s: Settings, now: datetime) -> bool:
    window = _window(resident, s)
    return window is not None and now - _last_activity(resident) >= window


async def _inactivity(apply: Applier, marks: Marks, resident: Resident, now: datetime,
                      s: Settings) -> None:
    window = _window(resident, s)
    held = marks.get(Condition.INACTIVITY, resident.id)
    last = _last_activity(resident)
    state = decide_inactivity(window=window, last_activity_at=last, away=resident.away,
                              last_mark=(held.state, held.at) if held else None, now=now)
    if state is None or window is None:
        return
    await apply.inactivity(resident.id, state, hours=window.total_seconds() / 3600,
                           last_activity_at=last)


async def _note_activity(session: AsyncSession, taken: Taken, by_id: dict[str, DeviceView]) -> None:
    """Batched Resident.last_activity_at: only ever moves forward."""
    latest: dict[str, datetime] = {}
    for device_id, at in taken.activity.items():
        device = by_id.get(device_id)
        if device is not None and device.resident_id:
            current = latest.get(device.resident_id)
            latest[device.resident_id] = at if current is None else max(current, at)
    if not latest:
        return
    rows = await session.exec(select(Resident).where(col(Resident.id).in_(list(latest))))
    for resident in rows.all():
        at = latest[resident.id]
        if resident.last_activity_at is None or at > resident.last_activity_at:
            resident.last_activity_at = at

