"""MQTT broker accounts: one Mosquitto login per device, so the ACL keeps it to its own topics."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from devices.contract import DEVICE_ID_PATTERN, Channel, Topics

from ..errors import ConfigError, InvalidInput

GATEWAY_USERNAME = "alert-gateway"  # matches `user alert-gateway` in config/mosquitto/acl
PASSWORD_BYTES = 24  # 192 bits, 32 URL-safe characters: fits device config fields, no quoting
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
# Usernames with readwrite on the whole tree in the ACL: a device must never be given one.
RESERVED_USERNAMES = frozenset({GATEWAY_USERNAME})


@dataclass(frozen=True, slots=True)
class TopicUse:
    """One topic a device uses, with how it must publish or subscribe."""

    topic: str
    direction: str  # "publish" or "subscribe"
    qos: str
    note: str


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """Everything a device needs to connect and talk to the gateway."""

    device_id: str
    broker_url: str
    username: str
    password: str
    client_id: str
    topics: tuple[TopicUse, ...]
    rule: str

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready copy (for `--json`)."""
        return asdict(self)


REPUBLISH_RULE = (
    "Publish each alarm at QoS 1 and keep re-publishing it with the same id, with a back-off, "
    "until a feedback message with ref=<that id> and state=received arrives. "
    "PUBACK only means the broker has it, not the gateway."
)


def generate_password(nbytes: int = PASSWORD_BYTES) -> str:
    """A random password from the OS CSPRNG, URL-safe so it needs no escaping anywhere."""
    return secrets.token_urlsafe(nbytes)


def validate_device_id(device_id: str) -> str:
    """The id itself if it is a valid device id that may become an MQTT username."""
    if not _DEVICE_ID.fullmatch(device_id):
        raise InvalidInput(
            f"device id {device_id!r} is invalid: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if device_id in RESERVED_USERNAMES:
        raise InvalidInput(f"device id {device_id!r} is reserved for the gateway's own account")
    return device_id


def find_mosquitto_passwd(binary: str | None = None) -> str:
    """The path of `mosquitto_passwd`, or a ConfigError saying how to install it."""
    found = shutil.which(binary or "mosquitto_passwd")
    if found is None:
        raise ConfigError(
            f"{binary or 'mosquitto_passwd'} not found: install the broker tools "
            "(Debian/Ubuntu: apt-get install mosquitto) or pass --mosquitto-passwd PATH"
        )
    return found


def set_password(
    password_file: Path, username: str, password: str, *, binary: str | None = None
) -> None:
    """Add or update one account in a Mosquitto password file (created if missing)."""
    if ":" in username or not username:
        raise InvalidInput("an MQTT username must be non-empty and contain no ':'")
    tool = find_mosquitto_passwd(binary)
    password_file.parent.mkdir(parents=True, exist_ok=True)
    # -b takes the password on the command line, so it is briefly visible in the process list
    # of this machine; run provisioning on a trusted host. -c only when the file is new,
    # because -c truncates an existing file.
    create = [] if password_file.exists() else ["-c"]
    try:
        result = subprocess.run(
            [tool, *create, "-b", str(password_file), username, password],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ConfigError(f"{tool} did not finish within 30 s") from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise ConfigError(f"{tool} failed for {password_file}: {detail}")


def device_topics(device_id: str, topics: Topics) -> tuple[TopicUse, ...]:
    """The topics one device uses, with QoS and rules from the device contract."""

    def t(channel: Channel) -> str:
        return topics.for_device(device_id, channel)

    return (
        TopicUse(t(Channel.ALARM), "publish", "1", "re-publish with the same id until received"),
        TopicUse(t(Channel.CANCEL), "publish", "1", "only for an alarm of this device"),
        TopicUse(t(Channel.HEARTBEAT), "publish", "0 or 1", "periodic check-in"),
        TopicUse(
            t(Channel.STATUS), "publish", "1", "retained 'online'; last will: retained 'offline'"
        ),
        TopicUse(t(Channel.ACTIVITY), "publish", "0 or 1", "motion / door events"),
        TopicUse(t(Channel.FEEDBACK), "subscribe", "1", "received / acknowledged / ... from us"),
    )


def device_credentials(
    device_id: str, password: str, *, broker_url: str, topics: Topics
) -> DeviceCredentials:
    """What to configure on the device; username and client id are the device id."""
    validate_device_id(device_id)
    return DeviceCredentials(
        device_id=device_id,
        broker_url=broker_url,
        username=device_id,
        password=password,
        client_id=device_id,
        topics=device_topics(device_id, topics),
        rule=REPUBLISH_RULE,
    )


def provision_device(
    device_id: str,
    *,
    password_file: Path,
    broker_url: str,
    topics: Topics,
    binary: str | None = None,
) -> DeviceCredentials:
    """Give a device a new random password in the broker's password file and return its settings."""
    credentials = device_credentials(
        device_id, generate_password(), broker_url=broker_url, topics=topics
    )
    set_password(password_file, credentials.username, credentials.password, binary=binary)
    return credentials


def provision_gateway(
    password_file: Path, *, username: str = GATEWAY_USERNAME, binary: str | None = None
) -> str:
    """Give the gateway account a new random password, returned for ALERT_GATEWAY_MQTT_PASSWORD."""
    password = generate_password()
    set_password(password_file, username, password, binary=binary)
    return password


def render(credentials: DeviceCredentials) -> str:
    """Plain-text instructions for the person setting up the device."""
    width = max(len(use.topic) for use in credentials.topics)
    lines = [
        f"broker URL : {credentials.broker_url}",
        f"username   : {credentials.username}",
        f"password   : {credentials.password}",
        f"client id  : {credentials.client_id}  (stable, so the broker keeps its session)",
        "",
        "topics:",
        *(
            f"  {use.direction:<9} {use.topic:<{width}}  QoS {use.qos:<6}  {use.note}"
            for use in credentials.topics
        ),
        "  (the broker drops a publish on any other topic; an MQTT v5 client gets PUBACK reason 0x87)",
        "",
        f"rule: {credentials.rule}",
    ]
    return "\n".join(lines)
