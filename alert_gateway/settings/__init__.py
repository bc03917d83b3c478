"""Settings, read once from config/gateway.toml and ALERT_GATEWAY_* environment variables.

The fields live by job in `connections` and `care`; this class joins them, checks the pairs that
only make sense together, and reads the sources in order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from ..errors import ConfigError
from .care import CareSettings
from .connections import ConnectionSettings
from .sources import ENV_PREFIX, Origins, check_names, read_toml, secret_files

DEFAULT_CONFIG = Path("config/gateway.toml")


class Settings(BaseSettings, CareSettings, ConnectionSettings):
    """Every setting the gateway reads. Environment variables override the TOML file."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", use_attribute_docstrings=True
    )

    drill_mode: bool = False
    """Demo or drill with the project's fake Twilio: placeholder credentials allowed. Never with
    real residents: `serve` refuses placeholder Twilio credentials and public URL without it."""

    @field_validator("public_url", "twilio_api_base", "line_api_base")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return url

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Pairs of settings that only make sense one way round."""
        if self.cancel_min_seconds >= self.cancel_grace_seconds:
            raise ValueError(f"{ENV_PREFIX}CANCEL_MIN_SECONDS ({self.cancel_min_seconds}) must be "
                             f"less than {ENV_PREFIX}CANCEL_GRACE_SECONDS ({self.cancel_grace_seconds})")
        if (self.line_channel_secret is None) != (self.line_channel_access_token is None):
            raise ValueError(f"{ENV_PREFIX}LINE_CHANNEL_SECRET and {ENV_PREFIX}LINE_CHANNEL_ACCESS_TOKEN "
                             "go together: set both to use LINE, or neither")
        if self.activity_watch_min_hours > self.activity_watch_default_hours:
            raise ValueError(
                f"{ENV_PREFIX}ACTIVITY_WATCH_MIN_HOURS ({self.activity_watch_min_hours}) must not "
                f"exceed {ENV_PREFIX}ACTIVITY_WATCH_DEFAULT_HOURS ({self.activity_watch_default_hours})")
        return self

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: object) -> Settings:
        """Read the TOML file, the environment (and *_FILE secrets), then explicit overrides.

        Any mistake is a ConfigError with one line naming the variable (or file key) at fault.
        """
        if config_file is not None and not config_file.is_file():
            raise ConfigError(f"--config {config_file}: no such file")
        path = config_file if config_file is not None else DEFAULT_CONFIG
        _TomlFile.path = path if path.is_file() else None
        check_names(cls.model_fields)
        origins = Origins(fields=set(cls.model_fields), toml_path=_TomlFile.path,
                          toml_keys=set(read_toml(_TomlFile.path)), overrides=set(overrides))
        from_files = secret_files(cls.model_fields, origins)
        try:
            return cls(**{**from_files, **overrides})  # type: ignore[arg-type]
        except ValidationError as exc:
            raise ConfigError(origins.describe(exc, secret=_SECRET_FIELDS)) from None
        except SettingsError as exc:
            raise ConfigError(str(exc)) from None

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
    def line_enabled(self) -> bool:
        """Both LINE credentials are set."""
        return self.line_channel_secret is not None and self.line_channel_access_token is not None

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


# Values never echoed in an error message: they are, or may contain, credentials.
_SECRET_FIELDS = frozenset(
    {"database_url", "mqtt_url", "mqtt_password", "twilio_auth_token", "twilio_account_sid",
     "zigbee2mqtt_mqtt_url", "zigbee2mqtt_mqtt_password", "data_key", "line_channel_secret",
     "line_channel_access_token"}
)


class _TomlFile:
    """Which TOML file `Settings.load` reads; kept off the model so it is not a setting itself."""

    path: Path | None = None


__all__ = ["ENV_PREFIX", "Settings"]
