"""Low battery and the activity watch (生活リズム) over real Mosquitto."""

from __future__ import annotations

from alert_gateway.clock import FakeClock
from devices.contract import Channel
from tests.harness import device_client, gateway_settings, running_gateway

from .helpers import QUIET, Heard, alerts, heartbeat, resident_activity, seed, timeline

DAY = 86_400


async def test_low_battery_raises_one_alert_across_many_heartbeats(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Ten low heartbeats and checks make one low_battery alert; a new battery resolves it."""
    await seed(database_url, clock, 1, battery=80)
    settings = gateway_settings(database_url, topic_root, **QUIET)
    async with running_gateway(settings, clock=clock, schema=False) as (gw, changes), \
            device_client(topic_root, clock=clock) as dev:
        heard = Heard(gw)
        for i in range(10):
            await clock.advance(30)
            await heartbeat(dev, "p-0", clock, battery=15 - i % 3)
            await heard.wait(changes, i + 1)
            await gw.flush_heartbeats()
            await gw.supervisor.check(clock.now())
        [alert] = await alerts(gw)
        assert (alert.type, alert.severity, alert.status) == ("low_battery", "P3", "open")
        assert "alarm" not in await timeline(gw, alert.id)  # nothing attached per heartbeat

        await heartbeat(dev, "p-0", clock, battery=22)  # above 20 but within the hysteresis
        await heard.wait(changes, 11)
        await gw.flush_heartbeats()
        assert (await gw.supervisor.check(clock.now())).battery_ok == []
        await heartbeat(dev, "p-0", clock, battery=100)
        await heard.wait(changes, 12)
        await gw.flush_heartbeats()
        assert (await gw.supervisor.check(clock.now())).battery_ok == ["p-0"]
        [alert] = await alerts(gw)
        assert (alert.status, alert.outcome) == ("resolved", "restored")


async def test_inactivity_raises_a_p1_once_the_window_passes_and_not_while_away(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Residents watched for 6 h: the one at home gets one P1; the one away gets nothing."""
    await seed(database_url, clock, 2, interval=DAY, activity_watch_hours=6,
               last_activity_at=clock.now())
    settings = gateway_settings(database_url, topic_root, **QUIET)
    async with running_gateway(settings, clock=clock, schema=False) as (gw, _):
        async with gw.services.sessions() as s:
            from alert_gateway.db.models import Resident

            away = await s.get(Resident, "r-1")
            assert away is not None
            away.away = True
            await s.commit()
        assert (await gw.supervisor.check(await clock.advance(hours=5, minutes=59))).inactive == []
        assert (await gw.supervisor.check(await clock.advance(minutes=2))).inactive == ["r-0"]
        assert (await gw.supervisor.check(await clock.advance(hours=3))).inactive == []
        [alert] = await alerts(gw)
        assert (alert.type, alert.severity, alert.resident_id, alert.device_id) == (
            "inactivity", "P1", "r-0", None)


async def test_motion_and_door_activity_move_last_activity_forward(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Activity messages are noted in memory and written by the next check, never backwards."""
    await seed(sqlite_url, clock, 1, interval=DAY, activity_watch_hours=5)
    settings = gateway_settings(sqlite_url, topic_root, **QUIET)
    async with running_gateway(settings, clock=clock, schema=False) as (gw, changes), \
            device_client(topic_root, clock=clock) as dev:
        heard = Heard(gw)
        await clock.advance(hours=4)
        await dev.publish("p-0", Channel.ACTIVITY, {"ts": clock.now().isoformat(), "kind": "motion"})
        await clock.advance(60)
        await dev.publish("p-0", Channel.ACTIVITY,
                          {"ts": clock.now().isoformat(), "kind": "door_open"})
        await heard.wait(changes, 2)
        moved = clock.now()
        await gw.supervisor.check(await clock.advance(hours=4))
        assert await resident_activity(gw, "r-0") == moved
        assert await alerts(gw) == []
