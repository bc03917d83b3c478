"""The LINE webhook's route and the sender its replies use. In the LINE Developers console, set
the webhook URL to {public_url}/line/webhook and turn "Use webhook" on; the handler itself is in
line_webhook.py, imported only where LINE is configured (line/sdk.py: the SDK is slow to import).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ..appkeys import SERVICES
from ..line.client import LineSender

LINE_SENDER: web.AppKey[LineSender] = web.AppKey("line_sender", LineSender)


def add_routes(app: web.Application) -> None:
    """Register the webhook and the sender its replies use (opened with the app)."""
    services = app[SERVICES]

    async def sender(app: web.Application) -> AsyncIterator[None]:
        app[LINE_SENDER] = LineSender(services.settings, services.metrics)
        await app[LINE_SENDER].start()
        yield
        await app[LINE_SENDER].close()

    app.cleanup_ctx.append(sender)
    if services.settings.line_channel_secret is None:
        app.router.add_post("/line/webhook", _off)
        return
    from .line_webhook import webhook

    app.router.add_post("/line/webhook", webhook)


async def _off(_request: web.Request) -> web.Response:
    raise web.HTTPForbidden(text="LINE is not configured")  # no signature can be right
