"""Prometheus configuration: promtool accepts it, the rule unit tests pass, names are real, and
every alert links to its section of docs/runbook.md."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .promql import EXTERNAL, PENDING, exported_names, metric_names

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "config" / "prometheus"
RUNBOOK = ROOT / "docs" / "runbook.md"
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
    "AlertGatewayAlarmsNotStored",
    "AlertGatewayTwilioErrors",
    "AlertGatewayWebhookSignatureRefused",
    "AlertGatewayManyDevicesOffline",
    "AlertGatewayNotReady",
    "Watchdog",
}
# Always firing by design (the dead-man's switch): it has no silent case and reads no metric.
WATCHDOG = "Watchdog"


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
        expected = {"none"} if name == WATCHDOG else {"critical", "warning"}
        assert rule["labels"]["severity"] in expected, name
        for key in ("summary", "summary_ja", "description"):
            assert rule["annotations"].get(key, "").strip(), f"{name} lacks {key}"


def test_every_alert_has_firing_and_silent_unit_tests() -> None:
    """The unit tests expect each alert to fire at some time and to be silent at another."""
    doc = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    cases = [case for test in doc["tests"] for case in test["alert_rule_test"]]
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    silent = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert firing == EXPECTED_ALERTS
    assert silent == EXPECTED_ALERTS - {WATCHDOG}


def test_rules_use_only_exported_metric_names() -> None:
    """Every metric in a rule exists in Metrics() (or is a requested one listed in PENDING)."""
    known = exported_names() | EXTERNAL | PENDING
    for rule in rules():
        if rule["alert"] == WATCHDOG:
            continue
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= known, f"{rule['alert']}: unknown {sorted(names - known)}"


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown document (lower case, no punctuation)."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, flags=re.MULTILINE):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return anchors


def test_every_alert_links_to_its_runbook_section() -> None:
    """runbook_url is <one base>/docs/runbook.md#<alert in lower case>, and that heading exists."""
    anchors = github_anchors(RUNBOOK.read_text(encoding="utf-8"))
    bases = set()
    for rule in rules():
        url = rule["annotations"].get("runbook_url", "")
        match = re.fullmatch(r"(https://\S+)/docs/runbook\.md#([\w-]+)", url)
        assert match, f"{rule['alert']}: runbook_url {url!r} is not <base>/docs/runbook.md#anchor"
        bases.add(match[1])
        assert match[2] == rule["alert"].lower(), rule["alert"]
        assert match[2] in anchors, f"docs/runbook.md has no heading for #{match[2]}"
    assert len(bases) == 1, f"one base for every link, so one sed changes them all: {bases}"


def test_prometheus_sends_alerts_to_the_alertmanager() -> None:
    """prometheus.yml routes its alerts to the compose project's Alertmanager."""
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    targets = {
        target
        for manager in config["alerting"]["alertmanagers"]
        for group in manager["static_configs"]
        for target in group["targets"]
    }
    assert targets == {"alertmanager:9093"}


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
