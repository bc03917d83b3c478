"""POST /line/webhook: JSON events signed with X-Line-Signature, base64(HMAC-SHA256(channel
secret, raw body)) (https://developers.line.biz/en/reference/messaging-api/#signature-validation).
A missing or wrong signature is refused with 403 and changes nothing. Replies go out after the
commit, through the reply API (free of the push quota). Routed by line_hooks.py when LINE is
configured.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from aiohttp import web
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.webhook import WebhookParser

from ..appkeys import SERVICES
from ..responses.line_events import LineOutcome, apply_events
from ..unit_of_work import publish
from .line_hooks import LINE_SENDER

log = logging.getLogger(__name__)


def _refuse(request: web.Request, reason: str) -> web.HTTPForbidden:
    request.app[SERVICES].metrics.webhooks_refused.labels(reason=reason).inc()
    log.warning("line webhook refused", extra={"path": request.path, "reason": reason})
    return web.HTTPForbidden(text="invalid LINE signature")


async def webhook(request: web.Request) -> web.Response:
    """Apply a signed batch of LINE events, then reply to them."""
    services = request.app[SERVICES]
    secret = services.settings.line_channel_secret
    assert secret is not None  # routed here only when it is set (line_hooks.py)
    signature = request.headers.get("X-Line-Signature")
    if not signature:
        raise _refuse(request, "missing_signature")
    raw = await request.read()
    try:
        events = WebhookParser(secret.get_secret_value()).parse(raw.decode("utf-8"), signature)
    except (InvalidSignatureError, UnicodeDecodeError):
        raise _refuse(request, "bad_signature") from None
    except (ValueError, TypeError, KeyError, AttributeError):  # signed, but not LINE's JSON
        services.metrics.webhooks_refused.labels(reason="bad_input").inc()
        raise web.HTTPBadRequest(text="not a LINE webhook body") from None
    if not events:  # the console's "Verify" button sends none
        return web.Response(status=200)
    tz = ZoneInfo(services.settings.timezone)
    outcome: LineOutcome = await services.writes.run(
        lambda session: apply_events(session, events, now=services.clock.now(), tz=tz,
                                     metrics=services.metrics))
    await publish(services.bus, outcome.changes)
    if outcome.sweep_answered:
        services.wakers.sweeps()
    for token, texts in outcome.replies:
        await request.app[LINE_SENDER].reply(reply_token=token, texts=texts)
    return web.Response(status=200)
