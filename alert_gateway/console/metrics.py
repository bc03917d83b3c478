"""Console metrics on the app's registry: sign-ins, live streams, operator actions."""

from __future__ import annotations

from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..metrics import PREFIX


class ConsoleMetrics:
    """Bounded labels only: results and action names, never operators or residents."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sign_ins = Counter(PREFIX + "console_sign_ins_total",
                                "Console sign-in attempts, by result (ok, failed, throttled).",
                                ["result"], registry=registry)
        self.sign_ins_throttled = Counter(
            PREFIX + "console_sign_ins_throttled_total",
            "Sign-ins refused before the password check, by the counter that refused them "
            "(pair: one address guessing one account; address; account).",
            ["limit"], registry=registry)
        self.live_streams = Gauge(PREFIX + "console_live_streams",
                                  "Open live-board event streams (screens watching the board).",
                                  registry=registry)
        self.actions = Counter(PREFIX + "console_actions_total",
                               "Operator actions on alerts, by action.", ["action"],
                               registry=registry)


_BY_REGISTRY: WeakKeyDictionary[CollectorRegistry, ConsoleMetrics] = WeakKeyDictionary()


def for_registry(registry: CollectorRegistry) -> ConsoleMetrics:
    """One ConsoleMetrics per registry (an app built twice must not register twice)."""
    if (existing := _BY_REGISTRY.get(registry)) is None:
        existing = _BY_REGISTRY[registry] = ConsoleMetrics(registry)
    return existing
