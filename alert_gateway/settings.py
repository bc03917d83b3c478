"""Settings, read once from config/gateway.toml and ALERT_GATEWAY_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from devices.contract import MAX_PAYLOAD_BYTES, TOPIC_ROOT

DEFAULT_CONFIG = Path("config/gateway.toml")


class Settings(BaseSettings):
    """Every setting the gateway reads. Environment variables override the TOML file."""

    model_config = SettingsConfigDict(env_prefix="ALERT_GATEWAY_", extra="forbid")

    # storage
    database_url: str = "sqlite+aiosqlite:///data/alert-gateway.db"

    # MQTT ingest
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_client_id: str = "alert-gateway-1"
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    mqtt_share_group: str | None = Field(
        default=None, description="MQTT v5 shared-subscription group, so replicas share the load."
    )
    mqtt_topic_root: str = TOPIC_ROOT
    mqtt_session_expiry_seconds: int = 7 * 24 * 3600
    mqtt_receive_maximum: int = Field(default=1000, ge=1, le=65535)
    mqtt_reconnect_max_seconds: float = 30.0
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    ingest_batch_size: int = Field(default=500, ge=1)
    heartbeat_flush_seconds: float = Field(default=5.0, gt=0)
    clock_skew_seconds: int = 300

    # HTTP
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    metrics_require_auth: bool = False

    # Twilio
    twilio_api_base: str = "https://api.twilio.com"
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: SecretStr = SecretStr("change-me")
    twilio_from_number: str = "+815000000000"
    twilio_timeout_seconds: float = 10.0

    # escalation
    policies_file: Path | None = (
        None  # None: the built-in defaults (alert_gateway/escalation/default_policies.toml)
    )
    dispatch_phone: str | None = None
    dispatch_name: str = "受信センター"
    timezone: str = "Asia/Tokyo"
    send_rate_per_second: float = Field(default=50.0, gt=0)
    night_start_hour: int = Field(default=22, ge=0, le=23)
    night_end_hour: int = Field(default=7, ge=0, le=23)
    cancel_min_seconds: int = 5
    cancel_grace_seconds: int = 300
    fall_guard_seconds: int = 30
    ack_resolve_reminder_minutes: int = 30
    contact_cap_per_window: int = Field(default=6, ge=1)  # escalation sends to one number ...
    contact_cap_window_seconds: int = Field(default=600, ge=1)  # ... in this window; more wait
    sms_auto_replies_per_hour: int = Field(default=3, ge=0)  # per number: no loops with robots

    # device supervision
    offline_tolerance_intervals: int = 3
    low_battery_percent: int = 20
    low_battery_hysteresis_percent: int = Field(default=5, ge=0)  # clears at threshold + this
    supervision_check_seconds: float = Field(default=30.0, gt=0)
    activity_watch_default_hours: int = Field(default=24, ge=1)
    activity_watch_min_hours: int = Field(default=5, ge=1)
    mass_outage_fraction: float = Field(default=0.2, gt=0, le=1)
    mass_outage_window_seconds: int = Field(default=300, gt=0)
    mass_outage_min_devices: int = Field(default=5, ge=1)  # a handful of homes is never "mass"
    mass_outage_resolve_fraction: float = Field(default=0.8, gt=0, le=1)  # share back to resolve

    # logging
    log_level: str = "INFO"
    log_json: bool = True

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: object) -> Settings:
        """Read the TOML file (if it exists), then the environment, then explicit overrides."""
        path = config_file if config_file is not None else DEFAULT_CONFIG
        _TomlFile.path = path if path.exists() else None
        return cls(**overrides)  # type: ignore[arg-type]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Precedence: explicit arguments, environment, TOML file, defaults."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _TomlFile.path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_TomlFile.path))
        return tuple(sources)

    @property
    def mqtt_host(self) -> str:
        """Host part of mqtt_url."""
        return urlsplit(self.mqtt_url).hostname or "127.0.0.1"

    @property
    def mqtt_port(self) -> int:
        """Port part of mqtt_url (1883, or 8883 for mqtts)."""
        parts = urlsplit(self.mqtt_url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def mqtt_tls(self) -> bool:
        """True for an mqtts:// URL."""
        return urlsplit(self.mqtt_url).scheme == "mqtts"


class _TomlFile:
    """Which TOML file `Settings.load` reads; kept off the model so it is not a setting itself."""

    path: Path | None = None
