"""Settings: TOML file, then environment variables, then explicit values."""

from __future__ import annotations

from pathlib import Path

import pytest

from alert_gateway.errors import ConfigError
from alert_gateway.settings import Settings, reference_table


def test_environment_overrides_toml_and_defaults_fill_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ALERT_GATEWAY_* beats the file; the file beats the defaults."""
    config = tmp_path / "gateway.toml"
    config.write_text('http_port = 9000\nmqtt_url = "mqtts://broker.example:8883"\n')
    monkeypatch.setenv("ALERT_GATEWAY_HTTP_PORT", "9100")
    monkeypatch.setenv("ALERT_GATEWAY_DATABASE_URL", "postgresql+asyncpg://gw@db/gw")
    settings = Settings.load(config)
    assert settings.http_port == 9100
    assert settings.database_url == "postgresql+asyncpg://gw@db/gw"
    assert (settings.mqtt_host, settings.mqtt_port, settings.mqtt_tls) == (
        "broker.example",
        8883,
        True,
    )
    assert settings.http_host == "127.0.0.1"


def test_unknown_key_in_the_file_is_a_clear_error(tmp_path: Path) -> None:
    """A typo in gateway.toml fails at start-up instead of being ignored."""
    config = tmp_path / "gateway.toml"
    config.write_text("htp_port = 9000\n")
    with pytest.raises(ConfigError, match="htp_port"):
        Settings.load(config)


def test_the_example_config_loads() -> None:
    """config/gateway.toml as checked in is valid."""
    Settings.load(Path(__file__).parent.parent / "config" / "gateway.toml")


def test_readme_configuration_reference_matches_the_settings_model() -> None:
    """Every setting is documented in README.md (regenerate: python scripts/settings_reference.py)."""
    readme = Path(__file__).parent.parent / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert reference_table() in text
