"""The /api/v1 sub-application: its own error and auth middlewares, nothing else touched."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from ..services import gateway_version
from .auth import PREFIX, PUBLIC_PATHS, auth_middleware
from .errors import error_middleware
from .openapi import build_document
from .params import check_query_names, check_request
from .routes import ROUTES

OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi_document")
# route name -> the query parameters its operation documents
QUERY_NAMES: web.AppKey[dict[str, frozenset[str]]] = web.AppKey("api_query_names")


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document (no token needed)."""
    return web.json_response(request.app[OPENAPI])


@web.middleware
async def input_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Path and query values of every route are checked here, once (bodies in params.body)."""
    check_request(request)
    route_name = request.match_info.route.name
    if route_name in request.app[QUERY_NAMES]:
        check_query_names(request, request.app[QUERY_NAMES][route_name])
    return await handler(request)


def make_api_app() -> web.Application:
    """Build the sub-application; errors wrap auth, so a 401 is JSON like every other error."""
    api = web.Application(middlewares=[error_middleware, auth_middleware, input_middleware])
    for route in ROUTES:
        api.router.add_route(route.method, route.path, route.handler, name=route.handler.__name__)
    api.router.add_get("/openapi.json", openapi_json, name="openapi", allow_head=False)
    api[QUERY_NAMES] = {route.handler.__name__: frozenset(p.name for p in route.query)
                        for route in ROUTES} | {"openapi": frozenset()}
    api[OPENAPI] = build_document(ROUTES, prefix=PREFIX, version=gateway_version(),
                                  public_paths=sorted(PUBLIC_PATHS))
    return api


def mount(app: web.Application) -> None:
    """Serve the API under /api/v1 of the main app."""
    app.add_subapp(PREFIX, make_api_app())
