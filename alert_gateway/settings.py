"""Settings, read once from config/gateway.toml and ALERT_GATEWAY_* environment variables."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from devices.contract import MAX_PAYLOAD_BYTES, TOPIC_ROOT

from .errors import ConfigError
from .settings_sources import ENV_PREFIX, Origins, check_names, read_toml, secret_files

DEFAULT_CONFIG = Path("config/gateway.toml")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")
# A Twilio <Say> voice: Polly.<Name>[-Neural|-Generative], Google.<locale>-<model>, or man/woman/alice
# (https://www.twilio.com/docs/voice/twiml/say/text-speech)
VOICE_PATTERN = r"^(?:(?:Polly|Google)\.[A-Za-z0-9-]{2,40}|man|woman|alice)$"


class Settings(BaseSettings):
    """Every setting the gateway reads. Environment variables override the TOML file."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", use_attribute_docstrings=True
    )

    drill_mode: bool = False
    """Demo or drill with the project's fake Twilio: placeholder credentials allowed. Never with
    real residents: `serve` refuses placeholder Twilio credentials and public URL without it."""

    # storage
    database_url: str = "sqlite+aiosqlite:///data/alert-gateway.db"
    """SQLite (single instance) or `postgresql+asyncpg://user@host/db` (replicas)."""

    # MQTT ingest
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    """Broker URL; `mqtts://` for TLS."""
    mqtt_username: str | None = None
    """Broker account of the gateway (see config/mosquitto)."""
    mqtt_password: SecretStr | None = None
    """Broker password; set it in the environment, never in the file."""
    mqtt_client_id: str = "alert-gateway-1"
    """Stable client id: the broker queues alarms for it while the gateway is down. Unique per replica."""
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    """MQTT protocol version; v5 is needed for portable shared subscriptions."""
    mqtt_share_group: str | None = None
    """MQTT v5 shared-subscription group, so replicas share the load."""
    mqtt_topic_root: str = TOPIC_ROOT
    """Topic root of the device contract."""
    mqtt_session_expiry_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=2**32 - 1)
    """How long the broker keeps our session (and queued alarms) while we are away (v5)."""
    mqtt_receive_maximum: int = Field(default=1000, ge=1, le=65535)
    """Unacknowledged QoS 1 messages the broker may send us at once (v5)."""
    mqtt_reconnect_max_seconds: float = Field(default=30.0, ge=0.1, le=600)
    """Upper bound of the reconnect backoff."""
    max_payload_bytes: int = Field(default=MAX_PAYLOAD_BYTES, ge=64, le=1024 * 1024)
    """Larger payloads are rejected (and kept)."""
    ingest_batch_size: int = Field(default=2000, ge=1, le=100_000)
    """Messages committed per transaction at most (a storm is written in a few large ones)."""
    heartbeat_flush_seconds: float = Field(default=5.0, ge=0.1, le=3600)
    """How often batched last-seen times are written."""
    clock_skew_seconds: int = Field(default=300, ge=1, le=86_400)
    """A device clock further off than this is flagged on the alert."""

    # HTTP
    http_host: str = "127.0.0.1"
    """Address the HTTP server binds (0.0.0.0 in a container)."""
    http_port: int = Field(default=8080, ge=1, le=65535)
    """HTTP port for the console, API, webhooks, health and metrics."""
    public_url: str = "http://127.0.0.1:8080"
    """The URL Twilio reaches the gateway at; callbacks and signature checks use it."""
    metrics_require_auth: bool = False
    """Require an API bearer token on /metrics."""

    # Twilio
    twilio_api_base: str = "https://api.twilio.com"
    """Twilio API base URL; the project's fake for drills and tests."""
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    """Twilio account SID."""
    twilio_auth_token: SecretStr = SecretStr("change-me")
    """Twilio auth token (never logged); also the webhook signing key."""
    twilio_from_number: str = "+815000000000"
    """The number SMS and calls come from (E.164)."""
    twilio_timeout_seconds: float = Field(default=10.0, ge=0.1, le=120)
    """Bound on every Twilio API request (the SDK ignores its own)."""
    twilio_late_answer_seconds: float = Field(default=30.0, ge=0, le=600)
    """How long from its start a create request that timed out may still be answered: it runs on,
    and its retry waits for that answer rather than look Twilio up while Twilio may hold it (a
    second text). Past it, or at most the timeout, the retry looks up and may send again."""

    # LINE Messaging API (https://developers.line.biz/en/reference/messaging-api/)
    line_api_base: str = "https://api.line.me"
    """LINE Messaging API base URL; the project's fake LINE for drills, tests and the demo."""
    line_channel_secret: SecretStr | None = None
    """The LINE channel secret: X-Line-Signature key of /line/webhook (unset: LINE is off)."""
    line_channel_access_token: SecretStr | None = None
    """The LINE channel access token for push and reply messages (unset: LINE is off)."""
    line_timeout_seconds: float = Field(default=5.0, ge=0.1, le=60)
    """Bound on every LINE API request."""
    line_send_rate_per_second: float = Field(default=100.0, ge=0.1, le=2000)
    """LINE push messages a second from this process (LINE allows 2,000 a second per channel)."""
    line_link_code_hours: int = Field(default=72, ge=1, le=24 * 30)
    """How long a LINE link code stays valid."""

    # escalation
    policies_file: Path | None = None
    """Escalation policies (TOML); unset: the built-in defaults, same as config/policies.toml."""
    dispatch_phone: str | None = None
    """The dispatch centre's phone (E.164), for policy targets `dispatch`."""
    dispatch_name: str = "受信センター"
    """How messages name the dispatch centre."""
    desk_phone: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")
    """The centre's desk line (E.164), rung first by click-to-call for an operator whose account
    has no phone of its own."""
    timezone: str = "Asia/Tokyo"
    """Local time zone for night hours and message times."""
    send_rate_per_second: float = Field(default=50.0, ge=0.1, le=100_000)
    """Account-wide Twilio send rate of this process (divide by replicas)."""
    send_concurrency: int = Field(default=16, ge=1, le=1000)
    """Twilio requests in flight at once. Each attempt is marked sending just before its own
    request, so after a crash (SIGKILL) at most this many attempts can be sent twice; 1 makes it
    exactly the single attempt in flight, at the cost of one request's round trip per send."""
    night_start_hour: int = Field(default=22, ge=0, le=23)
    """Night begins (local hour): technical alarms wait, neighbours are not woken."""
    night_end_hour: int = Field(default=7, ge=0, le=23)
    """Night ends (local hour)."""
    cancel_min_seconds: int = Field(default=5, ge=0, le=300)
    """A resident's cancel counts only this long after the alarm."""
    cancel_grace_seconds: int = Field(default=300, ge=1, le=3600)
    """... and only within this window."""
    fall_guard_seconds: int = Field(default=30, ge=0, le=600)
    """Wait for the resident to get up before escalating a fall (a pendant press ends it)."""
    ack_resolve_reminder_minutes: int = Field(default=30, ge=1, le=24 * 60)
    """Remind the console when an acknowledged alert is not resolved in this time."""
    contact_cap_per_window: int = Field(default=6, ge=1, le=100)
    """Escalation sends to one number per window at most; more wait."""
    contact_cap_window_seconds: int = Field(default=600, ge=1, le=86_400)
    """The window of the per-contact cap."""
    answer_link_hours: float = Field(default=24.0, ge=0.1, le=7 * 24)
    """Hours an SMS's one-tap answer link works (it stops earlier when the alert closes)."""
    answer_page_requests_per_minute: int = Field(default=30, ge=1, le=10_000)
    """Answer-page requests (views and taps) one client address may make a minute."""
    voice_ja: str = Field(default="Polly.Kazuha-Neural", pattern=VOICE_PATTERN)
    """Voice that reads Japanese on calls (Twilio Say; Polly neural voices: Kazuha, Tomoko, Takumi)."""
    voice_en: str = Field(default="Polly.Joanna-Neural", pattern=VOICE_PATTERN)
    """Voice that reads English on calls (Twilio Say, e.g. Polly.Joanna-Neural, Polly.Matthew-Neural)."""
    sms_auto_replies_per_hour: int = Field(default=3, ge=0, le=60)
    """Automatic SMS replies per number per hour (no loops with robots)."""

    # device supervision
    offline_tolerance_intervals: int = Field(default=3, ge=1, le=100)
    """Missed heartbeat intervals before a device is offline."""
    low_battery_percent: int = Field(default=20, ge=1, le=99)
    """Battery below this raises one low-battery alert."""
    low_battery_hysteresis_percent: int = Field(default=5, ge=0, le=50)
    """The low-battery alert clears at threshold + this."""
    supervision_check_seconds: float = Field(default=30.0, ge=1, le=86_400)
    """How often supervision looks for silent devices and quiet homes."""
    activity_watch_default_hours: int = Field(default=24, ge=1, le=7 * 24)
    """Inactivity window for a resident with the watch on and no value of their own."""
    activity_watch_min_hours: int = Field(default=5, ge=1, le=7 * 24)
    """Shortest inactivity window allowed."""
    mass_outage_fraction: float = Field(default=0.2, gt=0, le=1)
    """Share of devices offline within the window that makes one mass-outage incident."""
    mass_outage_window_seconds: int = Field(default=300, ge=10, le=86_400)
    """Window of the mass-outage rule."""
    mass_outage_min_devices: int = Field(default=5, ge=1, le=1_000_000)
    """A handful of homes is never a mass outage."""
    mass_outage_resolve_fraction: float = Field(default=0.8, gt=0, le=1)
    """Share of devices back that resolves the incident."""

    # wellbeing calls (お元気コール)
    wellbeing_call_tries: int = Field(default=3, ge=1, le=10)
    """Calls in one wellbeing window before it counts as not reached (a P3 alert to the first
    contact); no answer, busy or an answering machine are each one try."""
    wellbeing_retry_minutes: int = Field(default=20, ge=1, le=24 * 60)
    """Wait between the tries of one wellbeing window (night hours push a try to the morning)."""
    wellbeing_result_minutes: int = Field(default=3, ge=1, le=60)
    """When the scheduler first looks at a placed call's result (a keypress is applied at once;
    this catches no answer and machines)."""

    # disaster sweep (災害時安否確認)
    sweep_concurrent_calls: int = Field(default=10, ge=1, le=500)
    """Sweep calls on the line (or queued) at once; the account send rate still applies, and
    every alarm's sends go before them."""
    sweep_call_tries: int = Field(default=2, ge=1, le=5)
    """Calls to one resident in a sweep before they count as not reached (their neighbour
    volunteer and family are asked to look in)."""
    sweep_retry_minutes: int = Field(default=10, ge=1, le=120)
    """Wait between a sweep's tries to one resident (sweeps run day and night)."""

    # client address behind a reverse proxy (issue 12)
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    """Our reverse proxies (comma-separated networks), whose X-Forwarded-For names the client."""

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        return [part.strip() for part in value.split(",") if part.strip()] \
            if isinstance(value, str) else value

    # personal data (APPI): docs/personal-data.md
    data_key: SecretStr | None = None
    """Fernet key(s) sealing key-safe codes and medical notes, comma-separated, newest first
    (`alert-gateway data new-key`); required by `serve` outside drill mode."""
    alert_detail_retention_days: int = Field(default=180, ge=1, le=3650)
    """Days after an alert is resolved until its raw payloads, timeline texts, SMS bodies and
    called numbers are purged (the alert, its type, outcome and times stay for statistics)."""
    rejected_message_retention_days: int = Field(default=30, ge=1, le=3650)
    """Days a rejected MQTT message keeps its raw payload."""
    retention_check_hours: float = Field(default=6.0, ge=0.01, le=168)
    """How often the retention purge runs (it also runs at start)."""

    # SIA DC-09 receiver (docs/devices/sia-dc09.md)
    sia_port: int | None = Field(default=None, ge=1, le=65535)
    """TCP and UDP port for alarm panels reporting in SIA DC-09; unset: `serve` runs no receiver."""
    sia_host: str = "127.0.0.1"
    """Address the SIA receiver binds (0.0.0.0 to take panels from the network)."""
    sia_accounts_file: Path | None = None
    """Panel accounts (YAML): account number to device id, AES key file; see config/examples."""
    sia_ack_timeout_seconds: float = Field(default=10.0, ge=0.1, le=60)
    """How long a panel's alarm waits for the gateway's commit before the panel gets NAK."""

    # logging
    log_level: str = "INFO"
    """DEBUG, INFO, WARNING or ERROR."""
    log_json: bool = True
    """One JSON object per line (no names, phone numbers or medical notes)."""

    # Zigbee2MQTT bridge (docs/devices/zigbee2mqtt.md)
    zigbee2mqtt_map: Path | None = None
    """Zigbee devices to bridge (YAML map); when set, `serve` runs the bridge as well."""
    zigbee2mqtt_mqtt_url: str | None = None
    """Broker Zigbee2MQTT publishes to; unset: the gateway's own (mqtt_url)."""
    zigbee2mqtt_mqtt_username: str | None = None
    """Bridge account on the Zigbee2MQTT broker (read-only on the base topic is enough)."""
    zigbee2mqtt_mqtt_password: SecretStr | None = None
    """Password of that account; set it in the environment, never in the file."""
    zigbee2mqtt_base_topic: str = "zigbee2mqtt"
    """Zigbee2MQTT's base_topic."""
    zigbee2mqtt_client_id: str = "alert-gateway-z2m-1"
    """Stable client id of the bridge; its connections to the two brokers add -in and -out."""
    zigbee2mqtt_outbox: Path = Path("data/zigbee2mqtt-outbox.db")
    """The bridge's SQLite file: messages not yet received by the gateway, and the last states."""
    zigbee2mqtt_retry_max_seconds: float = Field(default=60.0, ge=1, le=3600)
    """Longest wait between two sends of an alarm the gateway has not confirmed."""

    def voice_for(self, language: str) -> str | None:
        """The configured <Say> voice for a BCP-47 language ("ja-JP", "en-US")."""
        return {"ja": self.voice_ja, "en": self.voice_en}.get(language.split("-")[0])

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        if urlsplit(url).scheme not in DATABASE_SCHEMES:
            raise ValueError(f"must start with {' or '.join(s + '://' for s in DATABASE_SCHEMES)}")
        return url

    @field_validator("mqtt_url", "zigbee2mqtt_mqtt_url")
    @classmethod
    def _mqtt_url(cls, url: str | None) -> str | None:
        if url is None:
            return url
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must look like mqtt://host:1883 or mqtts://host:8883")
        return url

    @field_validator("public_url", "twilio_api_base", "line_api_base")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return url

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as Asia/Tokyo") from None
        return zone

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        if level.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level.upper()

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


def reference_table() -> str:
    """The configuration reference as a Markdown table (README.md's generated section)."""
    rows = ["| environment variable | default | allowed | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "(secret)" if isinstance(default, SecretStr) else ("—" if default is None else default)
        description = " ".join((field.description or "").split())
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | `{shown}` | {allowed_range(name)} "
                    f"| {description} |")
    return "\n".join(rows)


def allowed_range(name: str) -> str:
    """The bounds of a numeric setting, e.g. `≥ 1, ≤ 1440`; empty for the others."""
    bounds = []
    for rule in Settings.model_fields[name].metadata:
        for attribute, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if (value := getattr(rule, attribute, None)) is not None:
                bounds.append(f"{sign} {value}")
    return ", ".join(bounds)


class _TomlFile:
    """Which TOML file `Settings.load` reads; kept off the model so it is not a setting itself."""

    path: Path | None = None
