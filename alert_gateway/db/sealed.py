"""Text columns encrypted at rest (Fernet via MultiFernet): the database alone reveals nothing.

The keys are the process's, installed once at start (`use_keys`), newest first: new values are
sealed with the first, every listed key still opens older ones, so a rotation is "prepend the new
key, run `alert-gateway data rotate-key`, then drop the old one". Rows written before encryption
was introduced hold plain text; they read as they are until `data rotate-key` seals them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.types import TypeDecorator
from sqlmodel.sql.sqltypes import AutoString

from ..errors import ConfigError

# Every Fernet token starts with version byte 0x80, base64: "gAAAAA". Plain text never does.
TOKEN_PREFIX = "gAAAAA"
UNREADABLE = "[unreadable: sealed with a key this gateway does not have]"
NO_KEY = ("no data key: set ALERT_GATEWAY_DATA_KEY (or _FILE) to store key-safe codes and "
          "medical notes (`alert-gateway data new-key` prints one)")


class _Keyring:
    """The process's keys; empty until `use_keys`."""

    fernet: MultiFernet | None = None


def use_keys(keys: Sequence[str]) -> None:
    """Install the data keys, newest first; ConfigError naming the bad one if one is malformed."""
    fernets = []
    for number, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.strip().encode()))
        except ValueError:
            raise ConfigError(f"ALERT_GATEWAY_DATA_KEY: key {number} is not a Fernet key "
                              "(32 url-safe base64 bytes)") from None
    _Keyring.fernet = MultiFernet(fernets) if fernets else None


def new_key() -> str:
    """A fresh random key, as `ALERT_GATEWAY_DATA_KEY` takes it."""
    return Fernet.generate_key().decode()


def has_keys() -> bool:
    """True once keys are installed."""
    return _Keyring.fernet is not None


def seal(text: str) -> str:
    """The text encrypted with the newest key."""
    if _Keyring.fernet is None:
        raise ConfigError(NO_KEY)
    return _Keyring.fernet.encrypt(text.encode()).decode()


def unseal(stored: str) -> str:
    """The clear text of a stored value (plain text from before encryption passes through)."""
    if not is_sealed(stored):
        return stored
    if _Keyring.fernet is None:
        return UNREADABLE
    try:
        return _Keyring.fernet.decrypt(stored.encode()).decode()
    except InvalidToken:
        # A wrong key must not take the resident card down in an emergency: name, address and
        # contacts still show; only this field says why it is missing.
        return UNREADABLE


def reseal(stored: str) -> str:
    """The stored value sealed with the newest key (plain text gets sealed for the first time)."""
    if _Keyring.fernet is None:
        raise ConfigError(NO_KEY)
    if not is_sealed(stored):
        return seal(stored)
    try:
        return _Keyring.fernet.rotate(stored.encode()).decode()
    except InvalidToken:
        raise ConfigError("a sealed value opens with none of the keys in ALERT_GATEWAY_DATA_KEY: "
                          "keep the old key in the list until rotation has run") from None


def is_sealed(stored: str) -> bool:
    """True if the stored value is a Fernet token rather than legacy plain text."""
    return stored.startswith(TOKEN_PREFIX)


class SealedText(TypeDecorator[str]):
    """A str column whose values are stored sealed; Python code only ever sees the clear text."""

    impl = AutoString  # the same column type as before: sealing needed no schema change
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        """Seal on the way in."""
        return None if value is None else seal(value)

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        """Unseal on the way out."""
        return None if value is None else unseal(value)
