"""Heartbeats update last-seen in batches: no row per heartbeat, the latest values win.

The gateway subscribes them at QoS 0, so a device's QoS 0 or QoS 1 heartbeat needs no PUBACK.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import Alert, Device, InboundMessage, Resident
from devices.contract import Channel
from tests.conftest import create_schema
from tests.harness import device_client, gateway_settings, running_gateway, seed_hub

from . import refuse


@pytest.mark.parametrize("qos", [0, 1])
async def test_many_heartbeats_become_one_last_seen_update(
    database_url: str, topic_root: str, clock: FakeClock, qos: int
) -> None:
    """Ten heartbeats from a device, at QoS 0 or 1, write its latest battery and last-seen once, no row."""
    await create_schema(database_url)
    await seed_hub(database_url)
    settings = gateway_settings(database_url, topic_root)
    async with (
        running_gateway(settings, clock=clock, schema=False) as (gateway, changes),
        device_client(topic_root, clock=clock) as dev,
    ):
        for battery in range(90, 80, -1):
            beat = {"ts": clock.now().isoformat(), "battery": battery}
            await dev.publish("hub-1", Channel.HEARTBEAT, beat, qos=qos)
        await dev.alarm("hub-1", "marker", "test")  # ordered after the heartbeats on one connection
        await changes.until(lambda: _count(gateway, Alert))
        updated = await gateway.flush_heartbeats()
        async with gateway.services.sessions() as s:
            device = await s.get(Device, "hub-1")
            inbound = (await s.exec(select(func.count()).select_from(InboundMessage))).one()
    assert updated == {"hub-1"}
    assert device is not None and device.battery == 81 and device.last_seen_at == clock.now()
    assert inbound == 1  # only the test alarm; heartbeats are not stored one by one
    beats = gateway.services.metrics.registry.get_sample_value("alert_gateway_heartbeats_received_total")
    assert beats == 10


async def _count(gateway: object, table: type) -> int:
    async with gateway.services.sessions() as s:  # type: ignore[attr-defined]
        return int((await s.exec(select(func.count()).select_from(table))).one())


async def test_a_sighting_the_database_refuses_does_not_hold_back_the_others(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """The refused device keeps its last-seen without the refused firmware; the others flush in full."""
    await create_schema(database_url)
    engine = make_engine(database_url)
    async with make_sessions(engine)() as s:
        s.add(Resident(id="r-1", name="山田 花子"))
        await s.flush()
        s.add_all([Device(id=f"hub-{i}", resident_id="r-1", kind="base_unit") for i in range(4)])
        await s.commit()
    await engine.dispose()
    await refuse.execute(database_url, refuse.refuse(database_url, "device", "NEW.firmware = 'refused'",
                                                     on="UPDATE"))
    settings = gateway_settings(database_url, topic_root)
    async with running_gateway(settings, clock=clock, schema=False) as (gateway, _changes):
        buffer = gateway.services.ingest.heartbeats  # past the edge: the database has the last word
        for i in range(4):
            buffer.note(f"hub-{i}", clock.now(), battery=50 + i, firmware="refused" if i == 2 else "2.1")
        updated = await gateway.flush_heartbeats()
        async with gateway.services.sessions() as s:
            devices = {d.id: d for d in (await s.exec(select(Device))).all()}
        dropped = gateway.services.metrics.registry.get_sample_value(
            "alert_gateway_heartbeat_sightings_dropped_total")
    assert updated == {f"hub-{i}" for i in range(4)}
    assert all(d.last_seen_at == clock.now() for d in devices.values())
    assert [(devices[f"hub-{i}"].battery, devices[f"hub-{i}"].firmware) for i in range(4)] == [
        (50, "2.1"), (51, "2.1"), (None, None), (53, "2.1")]
    assert dropped == 1
