"""Typed application state keys of the console."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from jinja2 import Environment

    from ..db.auth import Operator
    from ..twilio.client import TwilioSender
    from .metrics import ConsoleMetrics
    from .sse import LiveHub
    from .throttle import ThrottlePolicy

JINJA: web.AppKey[Environment] = web.AppKey("console_jinja")
THROTTLE: web.AppKey[ThrottlePolicy] = web.AppKey("console_throttle")
HUB: web.AppKey[LiveHub] = web.AppKey("console_hub")
METRICS: web.AppKey[ConsoleMetrics] = web.AppKey("console_metrics")
CALLER: web.AppKey[TwilioSender] = web.AppKey("console_caller")  # its own pool: never the alarms'
PDF_RENDERS: web.AppKey[asyncio.Semaphore] = web.AppKey("console_pdf_renders")  # CPU for seconds
OPERATOR: web.RequestKey[Operator] = web.RequestKey("console_operator")
CSRF: web.RequestKey[str] = web.RequestKey("console_csrf")
