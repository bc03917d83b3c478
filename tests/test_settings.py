"""Settings: TOML file, then environment variables, then explicit values."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alert_gateway.errors import ConfigError
from alert_gateway.settings import Settings
from alert_gateway.settings.reference import reference_table


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


@pytest.fixture
def no_gateway_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ALERT_GATEWAY_* variables and no config/gateway.toml: only what the test sets counts."""
    for name in list(os.environ):
        if name.upper().startswith("ALERT_GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def error_of(**env: str) -> str:
    """The ConfigError message for these ALERT_GATEWAY_<NAME>=value variables."""
    mp = pytest.MonkeyPatch()
    try:
        for name, value in env.items():
            mp.setenv(f"ALERT_GATEWAY_{name.upper()}", value)
        with pytest.raises(ConfigError) as error:
            Settings.load()
        return str(error.value)
    finally:
        mp.undo()


@pytest.mark.usefixtures("no_gateway_env")
def test_a_zero_reminder_interval_is_refused_naming_the_variable() -> None:
    """0 minutes (reminders every tick, forever) is out of range; the message says which and why."""
    assert error_of(ack_resolve_reminder_minutes="0") == (
        "ALERT_GATEWAY_ACK_RESOLVE_REMINDER_MINUTES must be ≥ 1 (got 0)")
    assert error_of(ack_resolve_reminder_minutes="-5") == (
        "ALERT_GATEWAY_ACK_RESOLVE_REMINDER_MINUTES must be ≥ 1 (got -5)")


def test_every_duration_count_and_rate_has_both_bounds() -> None:
    """A numeric setting without a minimum and a maximum would accept a value that harms."""
    for name, field in Settings.model_fields.items():
        if field.annotation in (int, float):
            bounds = {type(rule).__name__ for rule in field.metadata}
            assert bounds & {"Ge", "Gt"} and bounds & {"Le", "Lt"}, name


@pytest.mark.usefixtures("no_gateway_env")
def test_other_bad_values_name_their_variable() -> None:
    """Words for numbers, unknown choices and zones, and pairs that contradict each other."""
    assert error_of(http_port="eighty") == "ALERT_GATEWAY_HTTP_PORT must be a whole number (got eighty)"
    assert error_of(mqtt_protocol="4") == "ALERT_GATEWAY_MQTT_PROTOCOL must be '5' or '3.1.1' (got 4)"
    assert error_of(timezone="Asia/Kanazawa") == (
        "ALERT_GATEWAY_TIMEZONE must be an IANA time zone such as Asia/Tokyo (got Asia/Kanazawa)")
    assert error_of(cancel_min_seconds="60", cancel_grace_seconds="30") == (
        "ALERT_GATEWAY_CANCEL_MIN_SECONDS (60) must be less than ALERT_GATEWAY_CANCEL_GRACE_SECONDS (30)")
    assert error_of(twilio_auth_tokn="x") == (
        "ALERT_GATEWAY_TWILIO_AUTH_TOKN is not a setting (did you mean ALERT_GATEWAY_TWILIO_AUTH_TOKEN?)")


@pytest.mark.usefixtures("no_gateway_env")
def test_a_database_url_with_a_password_is_never_echoed() -> None:
    """The message says what is wrong with the URL without repeating its credentials."""
    message = error_of(database_url="postgresql://gw:s3cret@db/gw")
    assert message.startswith("ALERT_GATEWAY_DATABASE_URL must start with sqlite+aiosqlite://")
    assert "s3cret" not in message


def test_a_bad_value_in_the_file_is_named_by_its_key_and_file(no_gateway_env: Path) -> None:
    """A value from gateway.toml is reported as `key in file`, not as an environment variable."""
    config = no_gateway_env / "gateway.toml"
    config.write_text("low_battery_percent = 0\n")
    with pytest.raises(ConfigError, match=rf"^low_battery_percent in {config} must be ≥ 1 \(got 0\)$"):
        Settings.load(config)


def test_a_missing_config_file_is_an_error(no_gateway_env: Path) -> None:
    """An explicit --config that does not exist is refused instead of silently ignored."""
    with pytest.raises(ConfigError, match="no such file"):
        Settings.load(no_gateway_env / "gateway.tmol")


def test_secrets_come_from_files_without_their_trailing_newline(
    no_gateway_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ALERT_GATEWAY_<NAME>_FILE reads the value from a mounted secret file."""
    secrets = {"twilio_auth_token": "9be2" * 8, "mqtt_password": "broker pass",
               "database_url": "postgresql+asyncpg://gw:s3cret@db/gw"}
    for name, value in secrets.items():
        path = no_gateway_env / name
        path.write_text(value + "\n")
        monkeypatch.setenv(f"ALERT_GATEWAY_{name.upper()}_FILE", str(path))
    settings = Settings.load()
    assert settings.twilio_auth_token.get_secret_value() == secrets["twilio_auth_token"]
    assert settings.mqtt_password is not None
    assert settings.mqtt_password.get_secret_value() == "broker pass"
    assert settings.database_url == secrets["database_url"]


@pytest.mark.usefixtures("no_gateway_env")
def test_a_secret_set_twice_or_unreadable_is_an_error(tmp_path: Path) -> None:
    """Both the variable and its _FILE is ambiguous; a missing file names its variable."""
    path = tmp_path / "token"
    path.write_text("x\n")
    assert error_of(twilio_auth_token="y", twilio_auth_token_file=str(path)) == (
        "ALERT_GATEWAY_TWILIO_AUTH_TOKEN and ALERT_GATEWAY_TWILIO_AUTH_TOKEN_FILE are both set; "
        "keep one")
    assert error_of(mqtt_password_file=str(tmp_path / "absent")) == (
        f"ALERT_GATEWAY_MQTT_PASSWORD_FILE: cannot read {tmp_path / 'absent'} "
        "(No such file or directory)")
