"""Many homes offline at once are one incident for ops, not resident escalations."""

from __future__ import annotations

from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Escalation

from .helpers import Heard, alerts, heartbeat, supervised, timeline


async def test_thirty_percent_offline_is_one_mass_outage_without_device_alerts(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """6 of 20 pendants fall silent together: one mass_outage, no device_offline, no escalation."""
    async with supervised(database_url, topic_root, clock, 20) as (gw, changes, dev):
        heard = Heard(gw)
        await clock.advance(100)
        for i in range(6, 20):
            await heartbeat(dev, f"p-{i}", clock)
        await heard.wait(changes, 14)
        await gw.flush_heartbeats()
        report = await gw.supervisor.check(await clock.advance(90))
        assert len(report.went_offline) == 6 and report.outage_opened is not None
        [incident] = await alerts(gw)
        assert (incident.type, incident.resident_id, incident.status) == ("mass_outage", None, "open")
        assert await alerts(gw, "device_offline") == []
        async with gw.services.sessions() as s:
            assert (await s.exec(select(Escalation))).all() == []

        for i in range(6):
            await heartbeat(dev, f"p-{i}", clock)
        await heard.wait(changes, 20)
        await gw.flush_heartbeats()
        report = await gw.supervisor.check(clock.now())
        assert report.outage_resolved == incident.id
        [incident] = await alerts(gw)
        assert (incident.status, incident.outcome) == ("resolved", "restored")
        assert (await timeline(gw, incident.id))[-2:] == ["device_back", "resolved"]
