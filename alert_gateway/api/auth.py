"""Bearer-token guard for /api/v1: every request needs a live token except the OpenAPI document."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from ..access.bearer import authenticate
from ..appkeys import SERVICES

PREFIX = "/api/v1"
PUBLIC_PATHS = frozenset({f"{PREFIX}/openapi.json"})

NOW: web.RequestKey[datetime] = web.RequestKey("api_now")
TOKEN_NAME: web.RequestKey[str] = web.RequestKey("api_token_name")


def actor(request: web.Request) -> str:
    """Who acts, as written on the timeline."""
    return f"api:{request[TOKEN_NAME]}"


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the token (before 404s too: unknown paths reveal nothing); read the clock once."""
    services = request.config_dict[SERVICES]
    request[NOW] = services.clock.now()
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    request[TOKEN_NAME] = (await authenticate(request, services.sessions, request[NOW])).name
    return await handler(request)
