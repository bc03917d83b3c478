"""The SIA accounts file: which registered device each panel account reports as, and its AES key.

An account that is not listed still reaches the console: it reports as device `sia-<ACCOUNT>`,
which the gateway does not know, so its alarms open as from an unregistered device.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pysiaalarm import SIAAccount
from pysiaalarm.errors import (
    InvalidAccountFormatError,
    InvalidAccountLengthError,
    InvalidKeyFormatError,
    InvalidKeyLengthError,
)

from devices.contract import DEVICE_ID_PATTERN

from ..errors import ConfigError

UNKNOWN_ACCOUNT_PREFIX = "sia-"


@dataclass(frozen=True, slots=True)
class Account:
    """One panel account."""

    account: str  # upper-case hex, as the panel sends it
    device_id: str
    key: str | None = None  # AES key as pysiaalarm takes it: 16, 24 or 32 hex characters

    def for_pysiaalarm(self) -> SIAAccount:
        """pysiaalarm's account; the timestamp window is checked by us against our clock."""
        return SIAAccount(self.account, self.key, allowed_timeband=None)


@dataclass(frozen=True, slots=True)
class Accounts:
    """Every configured account, by account number."""

    by_number: dict[str, Account]

    def device_for(self, account: str) -> str:
        """The device id an account reports as (a made-up one for an unlisted account)."""
        known = self.by_number.get(account.upper())
        return known.device_id if known else f"{UNKNOWN_ACCOUNT_PREFIX}{account.upper()}"

    def for_pysiaalarm(self) -> dict[str, SIAAccount]:
        """The accounts pysiaalarm decrypts with, by account number."""
        return {number: a.for_pysiaalarm() for number, a in self.by_number.items()}


def load_accounts(path: Path | None) -> Accounts:
    """Read and check the accounts file; every mistake is a ConfigError naming the file and entry."""
    if path is None:
        return Accounts({})
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"SIA accounts file {path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"SIA accounts file {path}: not valid YAML ({exc})") from None
    entries = document.get("accounts") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"SIA accounts file {path}: needs a list under `accounts:`")
    by_number: dict[str, Account] = {}
    for index, entry in enumerate(entries, start=1):
        account = _account(entry, where=f"SIA accounts file {path}, entry {index}", base=path.parent)
        if account.account in by_number:
            raise ConfigError(f"SIA accounts file {path}: account {account.account} listed twice")
        by_number[account.account] = account
    return Accounts(by_number)


def _account(entry: Any, *, where: str, base: Path) -> Account:
    if not isinstance(entry, dict) or set(entry) - {"account", "device", "key_file"}:
        raise ConfigError(f"{where}: expected keys account, device and optionally key_file")
    number = str(entry.get("account", "")).upper()
    device = str(entry.get("device", ""))
    try:
        SIAAccount.validate_account(account_id=number)
    except (InvalidAccountFormatError, InvalidAccountLengthError):
        raise ConfigError(f"{where}: account must be 3 to 16 hex digits, got {number!r}") from None
    if not re.fullmatch(DEVICE_ID_PATTERN, device):
        raise ConfigError(f"{where}: device {device!r} is not a valid device id")
    key = _read_key(entry.get("key_file"), where=where, base=base)
    return Account(number, device, key)


def _read_key(key_file: Any, *, where: str, base: Path) -> str | None:
    """The AES key from its secret file (never from the accounts file itself, never logged)."""
    if key_file is None:
        return None
    path = base / str(key_file)  # an absolute key_file stays absolute
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"{where}: cannot read key_file {path}") from None
    try:
        SIAAccount.validate_account(key=key)
    except (InvalidKeyFormatError, InvalidKeyLengthError):
        raise ConfigError(f"{where}: key_file {path} must hold 16, 24 or 32 hex characters") from None
    return key
