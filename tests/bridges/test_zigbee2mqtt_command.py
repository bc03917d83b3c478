"""`alert-gateway bridge zigbee2mqtt`: what a person setting it up sees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alert_gateway.cli import main
from alert_gateway.clock import FakeClock
from alert_gateway.errors import ConfigError
from alert_gateway.gateway import Gateway
from alert_gateway.services import build_services
from tests.harness import gateway_settings

EXAMPLE = Path(__file__).parents[2] / "config/examples/zigbee2mqtt-map.yaml"


@pytest.fixture(autouse=True)
def _fresh_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config file and no ALERT_GATEWAY_* variables."""
    for name in list(os.environ):
        if name.upper().startswith("ALERT_GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_check_lists_what_each_device_becomes(capsys: pytest.CaptureFixture[str]) -> None:
    """--check validates the map and prints one line per device, then exits 0."""
    assert main(["bridge", "zigbee2mqtt", "--map", str(EXAMPLE), "--check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "yamada/pendant -> z2m-yamada-pendant (WXKG11LM)" and len(out) == 5


def test_without_a_map_it_is_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    """No --map and no setting: one line naming both ways, exit code 3."""
    assert main(["bridge", "zigbee2mqtt"]) == 3
    assert "ALERT_GATEWAY_ZIGBEE2MQTT_MAP" in capsys.readouterr().err


def test_a_broken_map_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A map with a mistake, given by the setting, is one line with the file and the key, exit 3."""
    broken = tmp_path / "map.yaml"
    broken.write_text("devices:\n  - {friendly_name: a}\n")
    monkeypatch.setenv("ALERT_GATEWAY_ZIGBEE2MQTT_MAP", str(broken))
    assert main(["bridge", "zigbee2mqtt", "--check"]) == 3
    err = capsys.readouterr().err
    assert "map.yaml: devices.0.device_id: Field required" in err and len(err.splitlines()) == 1


async def test_serve_refuses_to_start_with_a_broken_map(sqlite_url: str, tmp_path: Path) -> None:
    """With ALERT_GATEWAY_ZIGBEE2MQTT_MAP set to a bad file the gateway is not built (exit 3 in serve)."""
    broken = tmp_path / "map.yaml"
    broken.write_text("devices: [{friendly_name: a, device_id: 'not an id'}]\n")
    services = build_services(gateway_settings(sqlite_url, "agtest-unused", zigbee2mqtt_map=broken),
                              clock=FakeClock())
    try:
        with pytest.raises(ConfigError, match=r"map\.yaml: devices\.0\.device_id"):
            Gateway(services)
    finally:
        await services.close()
