"""Console sessions: a random cookie token whose SHA-256 is the WebSession row's key."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.auth import Operator, WebSession
from ..timefmt import aware

# A 12-hour shift plus handover; the operator signs in again at the next shift.
SESSION_LIFETIME = timedelta(hours=14)


def token_hash(token: str) -> str:
    """The stored form of a cookie token (a stolen database row cannot be replayed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def open_session(session: AsyncSession, *, operator: Operator, now: datetime) -> str:
    """Start a session for `operator`; returns the cookie token. The caller commits."""
    assert operator.id is not None
    await session.exec(  # type: ignore[call-overload]
        delete(WebSession).where(
            col(WebSession.operator_id) == operator.id, col(WebSession.expires_at) < now
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=token_hash(token),
            operator_id=operator.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    await session.flush()
    return token


async def find_session(
    session: AsyncSession, *, token: str, now: datetime
) -> tuple[WebSession, Operator] | None:
    """The live session and its active operator for a cookie token, or None."""
    query = (
        select(WebSession, Operator)
        .join(Operator, col(Operator.id) == col(WebSession.operator_id))
        .where(col(WebSession.token_hash) == token_hash(token))
    )
    row = (await session.exec(query)).first()
    if row is None:
        return None
    web_session, operator = row
    if aware(web_session.expires_at) <= now or not operator.active:
        return None
    return web_session, operator


async def close_session(session: AsyncSession, *, token: str) -> None:
    """End a session (sign-out). The caller commits."""
    await session.exec(  # type: ignore[call-overload]
        delete(WebSession).where(col(WebSession.token_hash) == token_hash(token))
    )


async def close_all_for(session: AsyncSession, *, operator_id: int) -> None:
    """End every session of an operator (deactivated or password changed). The caller commits."""
    await session.exec(  # type: ignore[call-overload]
        delete(WebSession).where(col(WebSession.operator_id) == operator_id)
    )


async def live_among(session: AsyncSession, *, token_hashes: Iterable[str], now: datetime) -> set[str]:
    """Which of these stored token hashes still belong to a live session of an active operator."""
    wanted = set(token_hashes)
    if not wanted:
        return set()
    query = (
        select(WebSession.token_hash, WebSession.expires_at)
        .join(Operator, col(Operator.id) == col(WebSession.operator_id))
        .where(col(WebSession.token_hash).in_(wanted), col(Operator.active).is_(True))
    )
    rows = (await session.exec(query)).all()
    return {hashed for hashed, expires_at in rows if aware(expires_at) > now}
