"""What the SIA receiver keeps and counts about frames it does not take."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter

from ..db.engine import SessionFactory
from ..db.messages import RejectedMessage, RejectReason
from ..ingest.parse import printable
from ..metrics import PREFIX

log = logging.getLogger(__name__)

KEEP_SECONDS = 5.0  # the panel waits for its answer: a stuck database must not hold it


@dataclass
class SiaMetrics:
    """The receiver's counters (labels are bounded sets: never account numbers)."""

    frames: Counter
    rejected: Counter
    keep_failures: Counter

    @classmethod
    def on(cls, registry: CollectorRegistry) -> SiaMetrics:
        """Register the counters on `registry` (the gateway's, or the command's own)."""
        return cls(
            Counter(PREFIX + "sia_frames_total", "SIA DC-09 frames answered, by route and answer.",
                    ["route", "answer"], registry=registry),
            Counter(PREFIX + "sia_rejected_total", "SIA DC-09 frames rejected, by reason.",
                    ["reason"], registry=registry),
            Counter(PREFIX + "sia_reject_keep_failures_total",
                    "Rejected SIA frames the database did not take (logged instead).",
                    registry=registry),
        )


async def keep_rejected(
    sessions: SessionFactory, metrics: SiaMetrics, *, now: datetime, peer: str,
    reason: RejectReason, detail: str, raw: bytes, device_id: str | None,
) -> None:
    """Store the raw frame with its reason (the console lists it); a failure is logged, not raised."""
    metrics.rejected.labels(reason=reason.value).inc()
    log.warning("sia frame rejected: %s", detail, extra={"reason": reason.value, "peer": peer,
                                                         "device_id": device_id})
    try:
        async with asyncio.timeout(KEEP_SECONDS), sessions() as session:
            session.add(RejectedMessage(received_at=now, topic=printable(f"sia-dc09 from {peer}", 500),
                                        device_id=device_id, reason=reason.value,
                                        detail=printable(detail), payload=raw))
            await session.commit()
    except Exception as exc:  # the panel is NAKed all the same and repeats; the log keeps it
        metrics.keep_failures.inc()
        log.error("sia frame could not be kept as rejected: %s (raw %r)", exc, raw[:300],
                  extra={"reason": reason.value, "peer": peer})
