"""The bearer-token check shared by /api/v1 and a guarded /metrics."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from ..db.auth import ApiToken
from ..db.engine import SessionFactory
from ..errors import Unauthorized
from . import tokens


def bearer_token(request: web.Request) -> str:
    """The token from `Authorization: Bearer <token>`; Unauthorized if absent or malformed."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("This API needs an 'Authorization: Bearer <token>' header; "
                           "create a token with `alert-gateway token create NAME`.")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    return token.strip()


async def authenticate(request: web.Request, sessions: SessionFactory, now: datetime) -> ApiToken:
    """The live token the request carries (its last use noted); Unauthorized otherwise."""
    token = bearer_token(request)
    async with sessions() as session:
        row = await tokens.authenticate(session, token=token, now=now)
        await session.commit()
    return row
