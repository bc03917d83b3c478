"""The retention purge removes texts, numbers and payloads after the period and keeps counts."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from alert_gateway.clock import FakeClock
from alert_gateway.console.report import monthly_report
from alert_gateway.privacy.purge_task import RetentionPurge
from alert_gateway.services import Services

from ..harness import Changes
from .conftest import Centre
from .seed import NUMBER, RAW, SMS_TEXT, closed_alert, month_of, raw_details


def purge_of(services: Services) -> RetentionPurge:
    return RetentionPurge(services.settings, services.clock, services.sessions, services.metrics)

PURGED = {"sms": None, "number": "", "timeline": "", "responder_note": None, "payload": b"",
          "outcome_note": None, "outcome": "family_attended"}


async def test_purge_after_the_period_keeps_the_alert_countable(centre: Centre) -> None:
    """An alert closed 181 days ago loses its details and stays in its month's report; one closed
    10 days ago keeps everything."""
    services = centre.services
    days = services.settings.alert_detail_retention_days
    old = await closed_alert(services, resolved_days_ago=days + 1)
    recent = await closed_alert(services, resolved_days_ago=10)
    counts = await purge_of(services).run_once(services.clock.now())
    assert (counts.alerts, counts.notifications, counts.timeline_entries) == (1, 1, 1), counts
    engine = services.engine
    assert await raw_details(engine, old) == PURGED
    kept = await raw_details(engine, recent)
    assert (kept["sms"], kept["number"], kept["payload"]) == (SMS_TEXT, NUMBER, RAW), kept
    zone = services.settings.timezone
    month = month_of(services.clock.now() - timedelta(days=days + 1), zone)
    report = await monthly_report(services.sessions, month=month, zone=zone,
                                  now=services.clock.now())
    assert report.by_type["sos"] == 1 and report.by_outcome["family_attended"] == 1, report


async def test_a_second_run_purges_nothing_and_metrics_show_the_runs(centre: Centre) -> None:
    """The purge is idempotent (a restart just runs it again) and its metrics say what it did."""
    services = centre.services
    await closed_alert(services, resolved_days_ago=services.settings.alert_detail_retention_days + 5)
    purge = purge_of(services)
    await purge.run_once(services.clock.now())
    again = await purge.run_once(services.clock.now() + timedelta(hours=6))
    assert (again.alerts, again.notifications, again.rejected_messages) == (0, 0, 0), again
    registry = services.metrics.registry
    sample = registry.get_sample_value
    assert sample("alert_gateway_retention_purged_total", {"kind": "alerts"}) == 1
    assert sample("alert_gateway_retention_last_run_timestamp_seconds") == (
        services.clock.now() + timedelta(hours=6)).timestamp()


async def test_rejected_payloads_go_after_their_own_period(centre: Centre) -> None:
    """A rejected message older than its (shorter) period loses its raw payload while the rest
    of its alert's details wait for theirs."""
    services = centre.services
    alert_id = await closed_alert(services, resolved_days_ago=services.settings.
                                  rejected_message_retention_days + 1)
    counts = await purge_of(services).run_once(services.clock.now())
    assert counts.alerts == 0 and counts.rejected_messages == 1, counts
    details = await raw_details(services.engine, alert_id)
    assert details["payload"] == b"" and details["sms"] == SMS_TEXT, details


async def test_the_gateway_task_purges_at_start_and_again_when_due(centre: Centre) -> None:
    """Run as the gateway runs it: the first pass at start; an alert that falls due later is
    purged at the next scheduled pass after the fake clock moves on."""
    services = centre.services
    clock = services.clock
    assert isinstance(clock, FakeClock)
    days = services.settings.alert_detail_retention_days
    alert_id = await closed_alert(services, resolved_days_ago=days - 1)
    last_run = "alert_gateway_retention_last_run_timestamp_seconds"
    changes, stop = Changes(), asyncio.Event()

    async def asleep_after_run_at(moment: datetime) -> bool:
        ran = services.metrics.registry.get_sample_value(last_run) == moment.timestamp()
        return ran and clock.sleepers > 0

    task = asyncio.create_task(purge_of(services).run(stop))
    try:
        await changes.until(lambda: asleep_after_run_at(clock.now()))
        assert (await raw_details(services.engine, alert_id))["sms"] == SMS_TEXT
        await clock.advance(days=2)
        await changes.until(lambda: asleep_after_run_at(clock.now()))
        assert await raw_details(services.engine, alert_id) == PURGED
    finally:
        stop.set()
        await task
