"""`alert-gateway simulate`: the device simulator's options under the gateway's command."""

from __future__ import annotations

import uuid

import pytest

from alert_gateway.cli import main


def test_it_lists_the_shipped_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    """--list-scenarios prints the scenario names the demo can play."""
    assert main(["simulate", "--list-scenarios"]) == 0
    assert "pendant-at-3am" in capsys.readouterr().out.split()


def test_it_plays_a_scenario_on_the_broker_of_the_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --mqtt-url and --topic-root it uses the gateway's; the report is printed."""
    monkeypatch.setenv("ALERT_GATEWAY_MQTT_TOPIC_ROOT", f"test-{uuid.uuid4().hex[:8]}/devices")
    assert main(["simulate", "--scenario", "pendant-at-3am", "--duration", "2"]) == 0
    assert "devices 1, alarms 1" in capsys.readouterr().out
