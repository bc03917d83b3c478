"""The scheduled retention purge: at start, then every `retention_check_hours`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import datetime, timedelta

from ..clock import Clock
from ..db.engine import SessionFactory
from ..metrics import Metrics
from ..settings import Settings
from . import retention
from .retention import PurgeCounts

log = logging.getLogger(__name__)


class RetentionPurge:
    """Runs the purge in short transactions; the rows' own times say what is due."""

    def __init__(self, settings: Settings, clock: Clock, sessions: SessionFactory,
                 metrics: Metrics) -> None:
        self._settings = settings
        self._clock = clock
        self._sessions = sessions
        self._metrics = metrics

    async def run_once(self, now: datetime) -> PurgeCounts:
        """Purge everything due at `now`, one batch of alerts per transaction."""
        settings = self._settings
        alert_cutoff = now - timedelta(days=settings.alert_detail_retention_days)
        total = PurgeCounts()
        while True:
            async with self._sessions() as session:
                ids = await retention.due_alert_ids(session, cutoff=alert_cutoff)
                counts = await retention.purge_alert_details(session, ids, now=now)
                await session.commit()
            total.add(counts)
            if len(ids) < retention.BATCH:
                break
        async with self._sessions() as session:
            rejected_cutoff = now - timedelta(days=settings.rejected_message_retention_days)
            total.rejected_messages += await retention.purge_rejected(session, cutoff=rejected_cutoff)
            total.notifications += await retention.purge_unlinked_notifications(
                session, cutoff=alert_cutoff)
            await session.commit()
        for kind, value in asdict(total).items():
            self._metrics.retention_purged.labels(kind=kind).inc(value)
        self._metrics.retention_last_run.set(now.timestamp())
        log.info("retention purge done", extra=asdict(total))
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Gateway task: purge, then sleep until the next run or stop."""
        clock = self._clock
        while not stop.is_set():
            now = clock.now()
            try:
                await self.run_once(now)
            except Exception:
                log.exception("retention purge failed; will retry at the next run")
            hours = self._settings.retention_check_hours
            await clock.wait(now + timedelta(hours=hours), stop)
