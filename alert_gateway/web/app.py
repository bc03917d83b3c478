"""The aiohttp application factory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import console
from ..access import client_address
from ..api import app as api_app
from ..appkeys import GATEWAY, SERVICES, Readiness
from . import answer_page, bridge_hooks, health, line_hooks, twilio_hooks
from .access_log import AccessLog

if TYPE_CHECKING:
    from ..services import Services


def make_app(services: Services, gateway: Readiness | None = None) -> web.Application:
    """Build the HTTP app on explicit services (tests pass their own)."""
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app[SERVICES] = services
    # First, so that the sign-in throttle and every handler see the client, not the proxy.
    app.middlewares.append(client_address.middleware(services.settings.trusted_proxies))
    if gateway is not None:
        app[GATEWAY] = gateway
    health.add_routes(app)
    twilio_hooks.add_routes(app)
    answer_page.add_routes(app)
    bridge_hooks.add_routes(app)
    line_hooks.add_routes(app)
    console.add_routes(app)
    api_app.mount(app)
    return app


def make_runner(app: web.Application, **options: Any) -> web.AppRunner:
    """An AppRunner writing the one access-log format (web/access_log.py), not aiohttp's own."""
    return web.AppRunner(app, access_log_class=AccessLog, **options)
