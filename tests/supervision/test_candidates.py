"""Supervision loads only the devices a rule could decide about, and counts unflushed sightings."""

from __future__ import annotations

from datetime import datetime, timedelta

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import Alert, AlertEvent, Device
from alert_gateway.supervision.state import (
    ACTOR,
    candidate_devices,
    residents_with_marks,
    supervised_count,
)

from .helpers import Heard, alerts, device, heartbeat, seed, supervised


async def test_only_overdue_offline_low_or_noted_devices_are_loaded(
    database_url: str, clock: FakeClock
) -> None:
    """An online, on-time, charged device is never read; the others are, as plain columns."""
    await seed(database_url, clock, 6, battery=90)
    engine = make_engine(database_url)
    async with make_sessions(engine)() as s:
        for device_id, change in (("p-1", {"last_seen_at": clock.now() - timedelta(seconds=200)}),
                                  ("p-2", {"online": False}), ("p-3", {"battery": 24}),
                                  ("p-5", {"active": False, "online": False})):
            row = await s.get(Device, device_id)
            assert row is not None
            for key, value in change.items():
                setattr(row, key, value)
        await s.commit()
        loaded = await candidate_devices(s, now=clock.now(), tolerance=3,
                                         listening_since=clock.now() - timedelta(hours=1),
                                         battery_below=25, resident_ids=(), device_ids={"p-4"})
        population = await supervised_count(s)
    await engine.dispose()
    assert sorted(d.id for d in loaded) == ["p-1", "p-2", "p-3", "p-4"]
    assert population == 5  # p-5 is stock in a drawer


async def test_only_residents_whose_open_alerts_hold_supervision_entries_are_looked_at(
    database_url: str, clock: FakeClock
) -> None:
    """A sweep leaves hundreds of open alerts that supervision never wrote on: their residents'
    devices, records and timelines are not read at every check. An open SOS with a low-battery
    entry attached is (its mark may clear); a closed one is not."""
    await seed(database_url, clock, 4, battery=90)
    engine = make_engine(database_url)
    async with make_sessions(engine)() as s:
        def sos(i: int, status: str = "open") -> Alert:
            return Alert(resident_id=f"r-{i}", device_id=f"p-{i}", type="sos", severity="P1",
                         status=status, opened_at=clock.now(), updated_at=clock.now())
        alerts = [sos(0), sos(1), sos(2, "resolved"), sos(3, "acknowledged")]
        s.add_all(alerts)
        await s.flush()
        for alert, actor in ((alerts[0], "device:p-0"), (alerts[1], "device:p-1"),
                             (alerts[1], ACTOR), (alerts[2], ACTOR), (alerts[3], ACTOR)):
            assert alert.id is not None
            s.add(AlertEvent(alert_id=alert.id, at=clock.now(), kind="alarm", actor=actor))
        await s.commit()
        looked_at = await residents_with_marks(s)
    await engine.dispose()
    assert looked_at == {"r-1", "r-3"}


async def test_silence_loads_no_device_until_the_gateway_has_listened_long_enough(
    database_url: str, clock: FakeClock
) -> None:
    """Every device long silent: none is loaded while not listening or just subscribed, all after 180 s."""
    await seed(database_url, clock, 3, battery=90)
    await clock.advance(hours=5)
    engine = make_engine(database_url)
    async with make_sessions(engine)() as s:

        async def loaded(listening_since: datetime | None) -> list[str]:
            views = await candidate_devices(s, now=clock.now(), tolerance=3,
                                            listening_since=listening_since, battery_below=25,
                                            resident_ids=(), device_ids=())
            return sorted(d.id for d in views)

        not_listening = await loaded(None)
        just_subscribed = await loaded(clock.now() - timedelta(seconds=100.25))
        listened_enough = await loaded(clock.now() - timedelta(seconds=180))
    await engine.dispose()
    assert (not_listening, just_subscribed) == ([], [])
    assert listened_enough == ["p-0", "p-1", "p-2"]


async def test_unflushed_heartbeat_keeps_a_device_online_and_the_silent_one_goes_offline(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """A heartbeat still in memory (not flushed) counts; the device that said nothing is offline."""
    async with supervised(database_url, topic_root, clock, 2) as (gw, changes, dev):
        heard = Heard(gw)
        await clock.advance(100)
        await heartbeat(dev, "p-0", clock)
        await heard.wait(changes, 1)
        report = await gw.supervisor.check(await clock.advance(81))
        assert report.went_offline == ["p-1"]
        [alert] = await alerts(gw, "device_offline")
        assert alert.device_id == "p-1"
        assert (await device(gw, "p-0")).online


async def test_offline_device_comes_back_on_an_unflushed_heartbeat(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Back online as soon as the check runs, without waiting for the last-seen flush."""
    async with supervised(database_url, topic_root, clock, 1) as (gw, changes, dev):
        assert (await gw.supervisor.check(await clock.advance(200))).went_offline == ["p-0"]
        heard = Heard(gw)
        await heartbeat(dev, "p-0", clock)
        await heard.wait(changes, 1)
        report = await gw.supervisor.check(clock.now())
        assert report.came_back == ["p-0"]
        assert (await device(gw, "p-0")).online
        [alert] = await alerts(gw)
        assert alert.status == "resolved"
