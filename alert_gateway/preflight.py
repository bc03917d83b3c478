"""Checks `serve` makes before it starts: no placeholder credentials outside a drill, a free port.

A gateway running with the built-in Twilio token accepts webhooks anyone can sign: a forged "1"
acknowledges an alert nobody is handling. So placeholders stop the start, unless the settings
say this is a drill against the project's fake Twilio.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from urllib.parse import urlsplit

from .errors import ConfigError, PortInUse
from .settings import Settings
from .settings.sources import ENV_PREFIX

PLACEHOLDER_TOKENS = frozenset({"", "change-me", "changeme"})
PLACEHOLDER_FROM_NUMBER = Settings.model_fields["twilio_from_number"].default
# RFC 2606 / 6761 names, plus the one .env.example uses: never a gateway Twilio can reach
PLACEHOLDER_DOMAINS = ("example", "example.com", "example.net", "example.org", "example.jp",
                       "test", "invalid", "localhost")
DRILL_HINT = f"for a drill with the project's fake Twilio set {ENV_PREFIX}DRILL_MODE=true"


def refuse_unsafe(settings: Settings) -> None:
    """Raise ConfigError naming each placeholder setting, unless in drill mode."""
    problems = unsafe_settings(settings)
    if problems and not settings.drill_mode:
        raise ConfigError(f"refusing to start: {'; '.join(problems)} ({DRILL_HINT})")


def unsafe_settings(settings: Settings) -> list[str]:
    """What makes these settings unfit for real residents, one phrase per setting."""
    problems = []
    token = settings.twilio_auth_token.get_secret_value()
    if token.strip().lower() in PLACEHOLDER_TOKENS:
        problems.append(f"{ENV_PREFIX}TWILIO_AUTH_TOKEN is not set (the placeholder "
                        "'change-me' would let anyone sign webhooks)")
    sid = settings.twilio_account_sid.strip()
    if len(set(sid.removeprefix("AC"))) <= 1 or "..." in sid or "change-me" in sid.lower():
        problems.append(f"{ENV_PREFIX}TWILIO_ACCOUNT_SID is not set (placeholder {sid!r})")
    if settings.twilio_from_number == PLACEHOLDER_FROM_NUMBER:
        problems.append(f"{ENV_PREFIX}TWILIO_FROM_NUMBER is not set (placeholder "
                        f"{PLACEHOLDER_FROM_NUMBER}: no SMS or call would go out)")
    if settings.data_key is None:
        problems.append(f"{ENV_PREFIX}DATA_KEY is not set (key-safe codes and medical notes "
                        "must be sealed at rest: `alert-gateway data new-key` prints a key)")
    if not reachable_from_outside(settings.public_url):
        problems.append(f"{ENV_PREFIX}PUBLIC_URL {settings.public_url} is not an address "
                        "Twilio can reach")
    return problems


def start_warnings(settings: Settings) -> list[str]:
    """Settings that work but deserve a look, logged as warnings at start."""
    warnings = []
    if settings.drill_mode:
        warnings.append("drill mode: placeholder Twilio credentials are accepted; "
                        "never run it for real residents")
    if settings.drill_mode and settings.data_key is None:
        warnings.append(f"drill mode without {ENV_PREFIX}DATA_KEY: an ephemeral key seals "
                        "key-safe codes and medical notes; after a restart they are unreadable")
    if urlsplit(settings.public_url).scheme != "https":
        warnings.append(f"{ENV_PREFIX}PUBLIC_URL is not https: webhooks (acknowledgements) and "
                        "console sign-ins travel unencrypted")
    if not settings.dispatch_phone:
        warnings.append(f"{ENV_PREFIX}DISPATCH_PHONE is not set: an alarm nobody acknowledges "
                        "reaches no dispatch centre")
    return warnings


def reachable_from_outside(url: str) -> bool:
    """False for loopback, unspecified and documentation-only hosts."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host or any(host == d or host.endswith(f".{d}") for d in PLACEHOLDER_DOMAINS):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a name: its DNS is the operator's business
    return not (address.is_loopback or address.is_unspecified)


def ensure_port_free(host: str, port: int, *, setting: str = f"{ENV_PREFIX}HTTP_PORT") -> None:
    """Bind the address once, as aiohttp will, so a busy port fails before anything starts."""
    where = f"{host}:{port}"
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        for family, kind, proto, _name, address in addresses:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
                probe.bind(address)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {where}: the host does not resolve ({exc.strerror})") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"cannot listen on {where}: another process uses the port "
                            f"({setting})") from None
        raise ConfigError(f"cannot listen on {where} ({exc.strerror}): check {setting}") from None
