"""One-tap answer links: issue a token for an alert SMS (or a sweep SMS, sweep/texts.py), find its
link again from the URL."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import AnswerLink

TOKEN_BYTES = 16  # 128 bits from the OS's CSPRNG: guessing one is hopeless, even at our rate limit
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{22,64}$")  # token_urlsafe's alphabet; anything else: no lookup
PATH_PREFIX = "/r/"
IN_TEXT = re.compile(r"(/r/)[A-Za-z0-9_-]{22,64}")


def hash_of(token: str) -> str:
    """What the database keeps of a token (SHA-256, hex): it cannot be turned back into a link."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def url_of(public_url: str, token: str) -> str:
    """The link as the SMS carries it."""
    return f"{public_url.rstrip('/')}{PATH_PREFIX}{token}"


def new_token() -> tuple[str, str]:
    """A fresh token for a link, and the hash the database keeps of it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_of(token)


def issue(*, alert_id: int, contact_id: int, now: datetime,
          lifetime: timedelta) -> tuple[str, dict[str, Any]]:
    """A new token and its row's columns (the caller inserts them in the transaction that plans
    the SMS)."""
    token, hashed = new_token()
    return token, {"token_hash": hashed, "alert_id": alert_id, "contact_id": contact_id,
                   "created_at": now, "expires_at": now + lifetime}


def redact(body: str) -> str:
    """An SMS text with its link's token cut out: once Twilio has the message, the outbox row
    (kept until the retention purge) need not hold a working link."""
    return IN_TEXT.sub(r"\1…", body)


async def find(session: AsyncSession, token: str) -> AnswerLink | None:
    """The link of a token from a URL; None for anything malformed or unknown (never an error)."""
    if not TOKEN_SHAPE.match(token):
        return None
    return await session.get(AnswerLink, hash_of(token))
