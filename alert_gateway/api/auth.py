"""Bearer-token guard for /api/v1: every request needs a live token except the OpenAPI document."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from ..appkeys import SERVICES
from ..errors import Unauthorized
from . import tokens

PREFIX = "/api/v1"
PUBLIC_PATHS = frozenset({f"{PREFIX}/openapi.json"})

NOW: web.RequestKey[datetime] = web.RequestKey("api_now")
TOKEN_NAME: web.RequestKey[str] = web.RequestKey("api_token_name")


def actor(request: web.Request) -> str:
    """Who acts, as written on the timeline."""
    return f"api:{request[TOKEN_NAME]}"


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


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the token (before 404s too: unknown paths reveal nothing); read the clock once."""
    services = request.config_dict[SERVICES]
    request[NOW] = services.clock.now()
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    token = bearer_token(request)
    async with services.sessions() as session:
        row = await tokens.authenticate(session, token=token, now=request[NOW])
        await session.commit()
    request[TOKEN_NAME] = row.name
    return await handler(request)
