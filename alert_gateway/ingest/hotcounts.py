"""Counter increments from the per-message hot path, added to Prometheus once per loop turn.

Each prometheus_client `inc()` takes a lock and checks the metric type (a few µs); at tens of
thousands of heartbeats a second that is a visible share of a core. Counts are summed in a dict
and applied by one `call_soon` callback, so /metrics lags by at most one event-loop turn.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Incrementable(Protocol):
    """A Prometheus counter or labelled child."""

    def inc(self, amount: float = 1) -> None:
        """Add `amount`."""
        ...


class TurnCounts:
    """Collects increments and applies them at the end of the current loop turn."""

    def __init__(self) -> None:
        self._counts: dict[Incrementable, int] = {}
        self._scheduled = False

    def inc(self, counter: Incrementable) -> None:
        """Count one; must be called on the event loop."""
        counts = self._counts
        counts[counter] = counts.get(counter, 0) + 1
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Apply what was counted."""
        self._scheduled = False
        counts, self._counts = self._counts, {}
        for counter, n in counts.items():
            counter.inc(n)
