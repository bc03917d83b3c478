"""API tokens: 256 random bits shown once, only their SHA-256 stored. The caller commits."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.auth import ApiToken
from ..errors import Conflict, InvalidInput, NotFound, Unauthorized

# Writing on every request would turn each read into a write; a minute is precise enough for audits.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def hash_token(token: str) -> str:
    """The stored form of a token."""
    # A fast hash suffices: the token has 256 random bits, so there is nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def create(session: AsyncSession, *, name: str, now: datetime,
                 expires_in: timedelta | None = None) -> tuple[ApiToken, str]:
    """A new token named `name`, valid for `expires_in` (None: until revoked); returns the row
    and the token, which is never stored."""
    if not _NAME.match(name):
        raise InvalidInput(
            f"Token name {name!r} must be 1-64 letters, digits, '.', '_' or '-' "
            "(it appears in timelines as api:<name>)."
        )
    existing = (await session.exec(select(ApiToken).where(col(ApiToken.name) == name))).first()
    if existing is not None:
        state = "revoked" if existing.revoked else "in use"
        raise Conflict(f"A token named {name!r} already exists ({state}); choose another name.")
    token = secrets.token_urlsafe(32)
    expires_at = now + expires_in if expires_in is not None else None
    row = ApiToken(name=name, token_hash=hash_token(token), created_at=now, expires_at=expires_at)
    session.add(row)
    await session.flush()
    return row, token


async def get_all(session: AsyncSession) -> list[ApiToken]:
    """Every token, revoked ones included, by name."""
    return list((await session.exec(select(ApiToken).order_by(col(ApiToken.name)))).all())


async def revoke(session: AsyncSession, *, name: str) -> ApiToken:
    """Stop a token working at once; the row stays so its name keeps meaning in old timelines."""
    row = (await session.exec(select(ApiToken).where(col(ApiToken.name) == name))).first()
    if row is None:
        raise NotFound(f"There is no token named {name!r}.")
    row.revoked = True
    await session.flush()
    return row


async def authenticate(session: AsyncSession, *, token: str, now: datetime) -> ApiToken:
    """The live token row for a presented token; Unauthorized if unknown, revoked or expired."""
    query = select(ApiToken).where(col(ApiToken.token_hash) == hash_token(token))
    row = (await session.exec(query)).first()
    if row is None or row.revoked:
        # One message for both: which tokens exist is not the caller's business.
        raise Unauthorized("The bearer token is not valid or has been revoked.")
    if is_expired(row, now=now):
        # The caller holds this token, so saying why it stopped working reveals nothing new.
        raise Unauthorized(f"The bearer token {row.name!r} expired at {_when(row.expires_at)}; "
                           "ask for a new one (`alert-gateway token create NAME --expires-in 90d`).")
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        await _touch(session, token_id=row.id, now=now)
    return row


def is_expired(row: ApiToken, *, now: datetime) -> bool:
    """True once a token with an expiry has reached it."""
    return row.expires_at is not None and now >= row.expires_at


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


async def _touch(session: AsyncSession, *, token_id: int | None, now: datetime) -> None:
    # Conditional so replicas racing on the same token still write at most once a minute.
    stale = now - LAST_USED_RESOLUTION
    await session.exec(
        update(ApiToken)
        .where(col(ApiToken.id) == token_id)
        .where(or_(col(ApiToken.last_used_at).is_(None), col(ApiToken.last_used_at) <= stale))
        .values(last_used_at=now)
    )
