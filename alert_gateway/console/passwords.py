"""Operator passwords: argon2id hashes (argon2-cffi defaults follow RFC 9106's recommendation)."""

from __future__ import annotations

import asyncio
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so a wrong name costs as long as a wrong
    password and sign-in timing does not reveal which names exist. Made on first use: hashing
    costs ~0.4 s, which the gateway's start-up (and crash recovery) should not pay."""
    return _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _hasher.hash(password)


def check_strength(password: str) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    return None


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; a missing hash still spends the same time."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    """verify_password off the event loop (argon2 takes tens of milliseconds on purpose)."""
    return await asyncio.to_thread(verify_password, password_hash, password)
