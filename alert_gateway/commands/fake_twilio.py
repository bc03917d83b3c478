"""`alert-gateway fake-twilio`: a Twilio-compatible server for tests, demos and drills."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from ..settings import Settings


def register(subparsers: Any) -> None:
    """Add `fake-twilio`."""
    parser = subparsers.add_parser(
        "fake-twilio",
        help="Run a Twilio-compatible server (Messages, Calls, signed callbacks, /_fake control).",
        description="Serves the Messages and Calls endpoints as the Twilio SDK calls them, posts "
        "signed status callbacks and inbound SMS to the gateway, and offers a control API under "
        "/_fake/ (make a phone reply by SMS, press a key, not answer, or make the API fail) and a "
        "phones page at /. Point the gateway at it with ALERT_GATEWAY_TWILIO_API_BASE.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
    parser.add_argument("--port", type=int, default=8099, help="Port to listen on (default 8099).")
    parser.add_argument("--webhook-base", default=None,
                        help="Where the gateway's webhooks are (default: the gateway's public_url).")
    parser.add_argument("--step-delay", type=float, default=0.0,
                        help="Seconds between lifecycle steps, so a demo can be watched.")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from ..preflight import ensure_port_free
    from ..twilio.fake_server import run_fake_twilio

    ensure_port_free(args.host, args.port, setting="--port")
    print(f"fake Twilio on http://{args.host}:{args.port} (phones page at /, control API /_fake/)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_fake_twilio(
            args.host, args.port, auth_token=settings.twilio_auth_token.get_secret_value(),
            account_sid=settings.twilio_account_sid,
            webhook_base=args.webhook_base or settings.public_url, step_delay=args.step_delay))
    return 0
