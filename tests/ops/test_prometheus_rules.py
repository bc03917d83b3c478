"""Prometheus configuration: promtool accepts it, the rule unit tests pass, and names are real."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .promql import PENDING, exported_names, metric_names

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "config" / "prometheus"
RULES = PROMETHEUS_DIR / "alert-gateway.rules.yml"
RULE_TESTS = PROMETHEUS_DIR / "tests" / "alert-gateway.rules.test.yml"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
EXPECTED_ALERTS = {
    "AlertGatewayDown",
    "AlertGatewayMqttDisconnected",
    "AlertGatewayEngineLag",
    "AlertGatewayNotificationFailures",
    "AlertGatewayUrgentAlertUnacknowledged",
    "AlertGatewayNoHeartbeats",
    "AlertGatewayIngestStuck",
    "AlertGatewayMessageNotStored",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool; a missing binary is a failure, not a skip (CI installs Debian's prometheus)."""
    binary = shutil.which("promtool")
    assert binary, "promtool not found: apt-get install -y prometheus"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, check=False)


def rules() -> list[dict[str, Any]]:
    """Every alerting rule in the rules file."""
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules() -> None:
    """promtool parses the rules file and every expression in it."""
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config() -> None:
    """The scrape configuration is valid and loads the rules file."""
    result = promtool("check", "config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    """Each alert fires when it should and stays silent when it should (promtool test rules)."""
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_defined_and_documented() -> None:
    """Each expected alert exists with a severity label and English and Japanese annotations."""
    by_name = {rule["alert"]: rule for rule in rules()}
    assert set(by_name) == EXPECTED_ALERTS
    for name, rule in by_name.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        for key in ("summary", "summary_ja", "description"):
            assert rule["annotations"].get(key, "").strip(), f"{name} lacks {key}"


def test_every_alert_has_firing_and_silent_unit_tests() -> None:
    """The unit tests expect each alert to fire at some time and to be silent at another."""
    doc = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    cases = [case for test in doc["tests"] for case in test["alert_rule_test"]]
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    silent = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert firing == EXPECTED_ALERTS
    assert silent == EXPECTED_ALERTS


def test_rules_use_only_exported_metric_names() -> None:
    """Every metric in a rule exists in Metrics() (or is a requested one listed in PENDING)."""
    known = exported_names() | {"up"} | PENDING
    for rule in rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= known, f"{rule['alert']}: unknown {sorted(names - known)}"


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('sum(rate(a_total{status=~"x|y"}[5m])) by (kind) / sum(b_total)', {"a_total", "b_total"}),
        ("histogram_quantile(0.99, sum by (le) (rate(h_bucket[$__rate_interval])))", {"h_bucket"}),
        ("max(g) > 180 and on() max(c{s='P1'}) > 0", {"g", "c"}),
        ("up == 0", {"up"}),
    ],
)
def test_metric_name_extraction(expr: str, expected: set[str]) -> None:
    """The PromQL name extractor used by these checks finds metrics and nothing else."""
    assert metric_names(expr) == expected
