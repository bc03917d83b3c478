"""Hot-path counts reach Prometheus once per loop turn, summed."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from alert_gateway.ingest.hotcounts import TurnCounts


async def test_counts_are_summed_and_applied_once() -> None:
    """Three increments of one counter and one of another land as 3 and 1 after the flush."""
    registry = CollectorRegistry()
    beats = Counter("beats", "test", registry=registry)
    kinds = Counter("kinds", "test", ["kind"], registry=registry)
    counts = TurnCounts()
    for _ in range(3):
        counts.inc(beats)
    counts.inc(kinds.labels(kind="heartbeat"))
    assert registry.get_sample_value("beats_total") == 0
    counts.flush()  # what the loop runs at the end of this turn
    assert registry.get_sample_value("beats_total") == 3
    assert registry.get_sample_value("kinds_total", {"kind": "heartbeat"}) == 1
    counts.flush()
    assert registry.get_sample_value("beats_total") == 3
