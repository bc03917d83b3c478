"""The scheduled retention purge: at start, then every `retention_check_hours`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..metrics import PREFIX
from ..services import Services
from . import retention
from .retention import PurgeCounts

log = logging.getLogger(__name__)


class RetentionMetrics:
    """When the purge last finished and what it has purged (labels: the four kinds)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.last_run = Gauge(PREFIX + "retention_last_run_timestamp_seconds",
                              "When the retention purge last completed (Unix time).",
                              registry=registry)
        self.purged = Counter(PREFIX + "retention_purged_total",
                              "Rows purged of personal data by retention, by kind.", ["kind"],
                              registry=registry)


def metrics_for(services: Services) -> RetentionMetrics:
    """One RetentionMetrics per Services (a gateway built twice must not register twice)."""
    existing = services.extras.get("retention_metrics")
    if isinstance(existing, RetentionMetrics):
        return existing
    created = RetentionMetrics(services.metrics.registry)
    services.extras["retention_metrics"] = created
    return created


class RetentionPurge:
    """Runs the purge in short transactions; the rows' own times say what is due."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._metrics = metrics_for(services)

    async def run_once(self, now: datetime) -> PurgeCounts:
        """Purge everything due at `now`, one batch of alerts per transaction."""
        settings = self._services.settings
        alert_cutoff = now - timedelta(days=settings.alert_detail_retention_days)
        total = PurgeCounts()
        while True:
            async with self._services.sessions() as session:
                ids = await retention.due_alert_ids(session, cutoff=alert_cutoff)
                counts = await retention.purge_alert_details(session, ids, now=now)
                await session.commit()
            total.add(counts)
            if len(ids) < retention.BATCH:
                break
        async with self._services.sessions() as session:
            rejected_cutoff = now - timedelta(days=settings.rejected_message_retention_days)
            total.rejected_messages += await retention.purge_rejected(session, cutoff=rejected_cutoff)
            total.notifications += await retention.purge_unlinked_notifications(
                session, cutoff=alert_cutoff)
            await session.commit()
        for kind, value in asdict(total).items():
            self._metrics.purged.labels(kind=kind).inc(value)
        self._metrics.last_run.set(now.timestamp())
        log.info("retention purge done", extra=asdict(total))
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Gateway task: purge, then sleep until the next run or stop."""
        clock = self._services.clock
        while not stop.is_set():
            now = clock.now()
            try:
                await self.run_once(now)
            except Exception:
                log.exception("retention purge failed; will retry at the next run")
            hours = self._services.settings.retention_check_hours
            await clock.wait(now + timedelta(hours=hours), stop)
