"""A device's alarm over real Mosquitto becomes a stored alert, and the device is told."""

from __future__ import annotations

from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import Alert, AlertEvent, Device, Resident
from tests.conftest import create_schema
from tests.harness import device_client, gateway_settings, running_gateway


async def _seed(url: str) -> None:
    await create_schema(url)
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        s.add(Resident(id="r-1", name="山田 花子"))
        await s.flush()  # no ORM relationships, so insert order follows our flushes
        s.add(Device(id="pendant-1", resident_id="r-1"))
        await s.commit()
    await engine.dispose()


async def test_pendant_alarm_is_stored_and_acknowledged_to_device(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """A pendant press is stored as an open P1 alert for its resident and the device gets `received`."""
    await _seed(database_url)
    settings = gateway_settings(database_url, topic_root)
    async with (
        running_gateway(settings, clock=clock, schema=False) as (gateway, changes),
        device_client(topic_root, clock=clock) as dev,
    ):
        await dev.watch_feedback()
        await dev.alarm("pendant-1", "a1b2", "sos", battery=81)
        device_id, feedback = await dev.next_feedback()
        assert (device_id, feedback["ref"], feedback["state"]) == ("pendant-1", "a1b2", "received")

        async def alerts() -> list[Alert]:
            async with gateway.services.sessions() as s:
                return list((await s.exec(select(Alert))).all())

        [alert] = await changes.until(alerts)
        assert (alert.resident_id, alert.type, alert.severity, alert.status) == (
            "r-1",
            "sos",
            "P1",
            "open",
        )
        assert feedback["alert_id"] == alert.id
        async with gateway.services.sessions() as s:
            events = (await s.exec(select(AlertEvent).where(AlertEvent.alert_id == alert.id))).all()
        assert events[0].kind == "opened"  # escalation steps follow as the engine runs
