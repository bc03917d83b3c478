"""The Grafana dashboard parses, its queries are valid PromQL, and they use only real metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .promql import EXTERNAL, PENDING, exported_names, metric_names

DASHBOARD = (
    Path(__file__).resolve().parents[2] / "config" / "grafana" / "alert-gateway-dashboard.json"
)
# Grafana fills these in before the query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    """The dashboard JSON, parsed."""
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every non-row panel, including panels nested in collapsed rows."""
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        found.extend(panel.get("panels", []))
        if panel["type"] != "row":
            found.append(panel)
    return found


def expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL query in the dashboard."""
    return [target["expr"] for panel in panels(dashboard) for target in panel["targets"]]


def test_dashboard_is_well_formed(dashboard: dict[str, Any]) -> None:
    """It has a uid, a title, unique panel ids and a query on every panel."""
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        assert panel["targets"], panel["title"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]


def test_queries_use_only_exported_metric_names(dashboard: dict[str, Any]) -> None:
    """Each query selects metrics that exist in Metrics() (allowing `up` and requested ones)."""
    known = exported_names() | EXTERNAL | PENDING
    for expr in expressions(dashboard):
        names = metric_names(expr)
        assert names, expr
        assert names <= known, f"unknown {sorted(names - known)} in {expr}"


def test_every_exported_metric_is_on_the_dashboard(dashboard: dict[str, Any]) -> None:
    """No metric is exported without a panel showing it (build and Python info aside: labels only)."""
    used = set().union(*(metric_names(expr) for expr in expressions(dashboard)))
    families = {re.sub(r"_(bucket|sum|count)$", "", name) for name in exported_names()}
    shown = {re.sub(r"_(bucket|sum|count)$", "", name) for name in used}
    assert families - shown == {"alert_gateway_build_info", "python_info"}


def test_required_views_exist(dashboard: dict[str, Any]) -> None:
    """The latency panels use histogram_quantile at the agreed percentiles."""
    exprs = expressions(dashboard)
    first = [e for e in exprs if "alert_first_notification_seconds_bucket" in e]
    ack = [e for e in exprs if "time_to_acknowledge_seconds_bucket" in e]
    assert {e.split(",")[0] for e in first} == {"histogram_quantile(0.5", "histogram_quantile(0.99"}
    assert {e.split(",")[0] for e in ack if e.startswith("histogram_quantile")} == {
        "histogram_quantile(0.5",
        "histogram_quantile(0.9",
    }
    assert any('le=~"60' in e for e in ack) and any('le=~"180' in e for e in ack)


def test_queries_are_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses every query (each wrapped as a recording rule, Grafana variables filled)."""
    binary = shutil.which("promtool")
    assert binary, "promtool not found: apt-get install -y prometheus"
    records = []
    for i, expr in enumerate(expressions(dashboard)):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        records.append({"record": f"dashboard:query_{i}", "expr": expr})
    rules = tmp_path / "dashboard.rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    result = subprocess.run(
        [binary, "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
