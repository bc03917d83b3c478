"""Alarms published while the gateway is down are stored when it comes back (persistent session)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert
from tests.harness import device_client, gateway_settings, running_gateway


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_alarms_sent_during_downtime_are_stored_after_restart(
    database_url: str, topic_root: str, clock: FakeClock, protocol: str
) -> None:
    """The broker keeps QoS 1 alarms for our fixed client id (v5 or 3.1.1); the next start takes them."""
    settings = gateway_settings(database_url, topic_root, mqtt_protocol=protocol)
    async with running_gateway(settings, clock=clock):
        pass  # first start creates the broker session
    async with device_client(topic_root, clock=clock) as dev:
        for n in range(3):
            await dev.alarm(f"pendant-{n}", f"down-{n}", "sos")
    async with running_gateway(settings, clock=clock, schema=False) as (gateway, changes):

        async def stored() -> list[Alert] | None:
            async with gateway.services.sessions() as s:
                rows = list((await s.exec(select(Alert))).all())
            return rows if len(rows) == 3 else None

        alerts = await changes.until(stored)
    assert sorted(a.source_message_id or "" for a in alerts) == ["down-0", "down-1", "down-2"]
