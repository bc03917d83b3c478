"""What a simulation did: alarms published, `received` feedback seen, publish→received latency."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass(slots=True)
class AlarmRecord:
    """One alarm (one id) and its delivery."""

    device_id: str
    message_id: str
    type: str
    first_published: float  # time.monotonic() of the first publish
    publishes: int = 1  # the first publish plus repeats with the same id
    received_at: float | None = None  # time.monotonic() of the first `received` feedback

    @property
    def latency(self) -> float | None:
        """Seconds from the first publish to `received`; None while unacknowledged."""
        return None if self.received_at is None else self.received_at - self.first_published


@dataclass(frozen=True, slots=True)
class Feedback:
    """One feedback message a device saw on its feedback topic."""

    device_id: str
    ref: str
    state: str
    at: float  # time.monotonic()
    alert_id: int | None = None


@dataclass(slots=True)
class SimulationReport:
    """Counters and per-alarm records of one run."""

    alarms: list[AlarmRecord] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    cancels: int = 0
    heartbeats: int = 0
    activities: int = 0
    publish_errors: int = 0
    invalid_feedback: int = 0
    devices: int = 0

    @property
    def acknowledgements(self) -> list[Feedback]:
        """The `received` feedback seen (repeats included)."""
        return [f for f in self.feedback if f.state == "received"]

    @property
    def latencies(self) -> dict[tuple[str, str], float]:
        """(device id, alarm id) → publish→received seconds, for acknowledged alarms."""
        return {
            (a.device_id, a.message_id): a.latency for a in self.alarms if a.latency is not None
        }

    @property
    def unacknowledged(self) -> list[AlarmRecord]:
        """Alarms that never saw `received`."""
        return [a for a in self.alarms if a.received_at is None]

    def summary(self) -> str:
        """A few human-readable lines for the CLI."""
        values = sorted(self.latencies.values())
        lines = [
            f"devices {self.devices}, alarms {len(self.alarms)}, "
            f"acknowledged {len(values)}, unacknowledged {len(self.unacknowledged)}",
            f"cancels {self.cancels}, heartbeats {self.heartbeats}, activity {self.activities}, "
            f"publish errors {self.publish_errors}",
        ]
        if values:
            p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
            lines.append(
                f"publish→received: median {statistics.median(values) * 1000:.1f} ms, "
                f"p95 {p95 * 1000:.1f} ms, max {values[-1] * 1000:.1f} ms"
            )
        return "\n".join(lines)
