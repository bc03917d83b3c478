"""Helpers for checking PromQL in rules and dashboards against the metrics the gateway exports."""

from __future__ import annotations

import re

from alert_gateway.metrics import Metrics

# The series each metric type exposes: a bare counter or histogram name selects nothing.
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}

# Metrics that the rules use but metrics.py does not export yet (asked for in the Operations
# report). Remove a name from here once it is added, so the check covers it.
PENDING: frozenset[str] = frozenset()
# Series that come from Prometheus itself (up) and the blackbox exporter (probe_*), not the gateway.
EXTERNAL = frozenset({"up", "probe_success"})

_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "inf",
        "nan",
    }
)
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_LABEL_LISTS = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_BRACES = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w$.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")


def exported_names() -> frozenset[str]:
    """Every series name a fresh Metrics() can produce, read from its registry's collectors."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return frozenset(names)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels and keywords removed)."""
    text = _STRINGS.sub(" ", expr)
    text = _LABEL_LISTS.sub(" ", text)
    text = _BRACES.sub(" ", text)
    return {
        name
        for name in _IDENT.findall(text)
        if name.lower() not in _KEYWORDS and not re.fullmatch(r"\d+[smhdwy]?", name)
    }
