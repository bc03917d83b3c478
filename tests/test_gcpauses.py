"""The garbage collector's pauses show on /metrics by generation."""

from __future__ import annotations

import gc

from prometheus_client import generate_latest

from alert_gateway.metrics import Metrics


def _count(metrics: Metrics, generation: str, le: str | None = None) -> float | None:
    name = "alert_gateway_gc_pause_seconds_" + ("count" if le is None else "bucket")
    labels = {"generation": generation} | ({} if le is None else {"le": le})
    return metrics.registry.get_sample_value(name, labels)


def test_every_generation_is_exported_at_zero_before_the_first_collection() -> None:
    """Before any collection is timed each generation's histogram is there, empty."""
    metrics = Metrics()
    text = generate_latest(metrics.registry).decode()
    for generation in ("0", "1", "2"):
        assert f'alert_gateway_gc_pause_seconds_count{{generation="{generation}"}} 0.0' in text
        assert _count(metrics, generation, "+Inf") == 0


def test_a_full_collection_counts_as_one_generation_2_pause() -> None:
    """A full collection while installed adds one pause to generation 2, with its duration."""
    metrics = Metrics()
    metrics.gc_pauses.install()
    try:
        gc.collect()
    finally:
        metrics.gc_pauses.uninstall()
    gc.collect()  # not counted once uninstalled
    assert _count(metrics, "2") == 1
    assert _count(metrics, "2", "+Inf") == 1
    total = metrics.registry.get_sample_value("alert_gateway_gc_pause_seconds_sum",
                                              {"generation": "2"})
    assert total is not None and total > 0
