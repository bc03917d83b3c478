"""Settings of what the gateway connects to: storage, the MQTT broker, HTTP, the SIA receiver,
the Zigbee2MQTT bridge and logging."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from devices.contract import MAX_PAYLOAD_BYTES, TOPIC_ROOT

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")


class ConnectionSettings(BaseModel):
    """Where the gateway's data, devices and web clients come from, and where its logs go."""

    model_config = ConfigDict(use_attribute_docstrings=True)

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

    # client address behind a reverse proxy (issue 12)
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    """Our reverse proxies (comma-separated networks), whose X-Forwarded-For names the client."""

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        return [part.strip() for part in value.split(",") if part.strip()] \
            if isinstance(value, str) else value

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

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        if level.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level.upper()
