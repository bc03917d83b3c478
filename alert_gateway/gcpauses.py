"""The garbage collector's pauses as a Prometheus histogram, by generation (from gc.callbacks)."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

NAME = "alert_gateway_gc_pause_seconds"
GENERATIONS = (0, 1, 2)
# A young collection takes well under a millisecond; a full one tens of milliseconds, which is
# the whole alarm → first Twilio request budget (issue 11).
PAUSE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class GcPauses(Collector):
    """Counts each collection's wall time in plain lists, read out at scrape time.

    Not a prometheus_client Histogram: its lock is not reentrant, and a collection can start on
    any thread inside observe() itself. The callbacks run one at a time (the collector does not
    re-enter), so the lists need no lock.
    """

    def __init__(self) -> None:
        self._counts = [[0] * (len(PAUSE_BUCKETS) + 1) for _ in GENERATIONS]  # last: +Inf
        self._sums = [0.0 for _ in GENERATIONS]
        self._started = 0.0

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        generation = info["generation"]
        self._sums[generation] += seconds
        counts = self._counts[generation]
        for i, bound in enumerate(PAUSE_BUCKETS):
            if seconds <= bound:
                counts[i] += 1
                return
        counts[-1] += 1

    def install(self) -> None:
        """Start timing collections (process-wide: once, by the process that serves)."""
        gc.callbacks.append(self._on_collection)

    def uninstall(self) -> None:
        """Stop timing collections."""
        gc.callbacks.remove(self._on_collection)

    def collect(self) -> Iterator[Metric]:
        """The histogram, one series per generation."""
        family = HistogramMetricFamily(
            NAME, "Garbage-collector pauses of the event loop, by generation (2 is a full "
                  "collection).", labels=["generation"])
        for generation in GENERATIONS:
            cumulative, buckets = 0, []
            for bound, count in zip((*PAUSE_BUCKETS, float("inf")), self._counts[generation],
                                    strict=True):
                cumulative += count
                buckets.append((_le(bound), cumulative))
            family.add_metric([str(generation)], buckets, self._sums[generation])
        yield family


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
