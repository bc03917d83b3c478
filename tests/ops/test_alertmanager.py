"""The Alertmanager configuration: amtool accepts it, each alert reaches the right receiver, and
the shipped file holds no real address."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .test_prometheus_rules import WATCHDOG, rules

CONFIG = Path(__file__).resolve().parents[2] / "config" / "alertmanager" / "alertmanager.yml"
RECEIVER_FOR_SEVERITY = {"critical": "city-oncall", "warning": "city-ops"}
# Documentation-only domains (RFC 2606, RFC 6761, and JPRS's example.jp), and loopback.
PLACEHOLDER_DOMAIN = re.compile(r"(^|\.)(example(\.(jp|com|org|net))?|invalid|test)$|^127\.0\.0\.1$")


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run amtool; a missing binary is a failure (scripts/setup.sh installs it)."""
    binary = shutil.which("amtool")
    assert binary, "amtool not found: apt-get install -y prometheus-alertmanager"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


def test_amtool_check_config() -> None:
    """amtool parses the configuration, its routes and receivers."""
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_each_alert_reaches_its_receiver(rule: dict[str, object]) -> None:
    """Critical alerts page on-call, warnings go to ops, the Watchdog only to the dead-man's switch."""
    labels = rule["labels"]
    assert isinstance(labels, dict)
    if rule["alert"] == WATCHDOG:
        expected = "deadmans-switch"
    else:
        expected = RECEIVER_FOR_SEVERITY[labels["severity"]]
    result = amtool(
        "config", "routes", "test", f"--config.file={CONFIG}",
        f"alertname={rule['alert']}", *(f"{key}={value}" for key, value in labels.items()),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [expected], result.stdout


def test_no_real_address_is_shipped() -> None:
    """Every e-mail address and host in the file, examples included, is a placeholder domain."""
    text = CONFIG.read_text(encoding="utf-8")
    hosts = re.findall(r"[\w.+-]+@([\w.-]+)", text) + re.findall(r"https?://([\w.-]+)", text)
    hosts += re.findall(r"smarthost:\s*\"?([\w.-]+)", text)
    assert hosts, "the examples are gone: keep one e-mail and one webhook example"
    real = [host for host in hosts if not PLACEHOLDER_DOMAIN.search(host)]
    assert not real, f"real addresses in {CONFIG.name}: {real}"
