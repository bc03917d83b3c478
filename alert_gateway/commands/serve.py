"""`alert-gateway serve`: run the gateway (MQTT ingest, escalation, HTTP API and console)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from ..errors import Unreachable
from ..settings import Settings

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add `serve`."""
    parser = subparsers.add_parser(
        "serve",
        help="Run the gateway: take alarms from MQTT, escalate, serve the API and console.",
        description="Run the gateway until SIGINT or SIGTERM. Apply migrations first "
        "(alert-gateway db upgrade) or pass --migrate. Refuses to start while the Twilio auth "
        "token, account SID, sending number or public URL are placeholders, unless "
        "ALERT_GATEWAY_DRILL_MODE=true (the project's fake Twilio).",
    )
    parser.add_argument("--migrate", action="store_true", help="Apply database migrations first.")
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from ..db.migrate import require_migrated, upgrade_sync
    from ..gateway import serve
    from ..logs import configure_logging
    from ..preflight import ensure_port_free, refuse_unsafe, start_warnings
    from ..services import build_services

    refuse_unsafe(settings)
    ensure_port_free(settings.http_host, settings.http_port)
    if settings.sia_port is not None:
        ensure_port_free(settings.sia_host, settings.sia_port, setting="ALERT_GATEWAY_SIA_PORT")
    unchecked: Unreachable | None = None
    if not args.migrate:
        try:
            require_migrated(settings.database_url)
        except Unreachable as exc:
            # A database still booting must not keep the gateway down: it retries the database
            # itself, and a restart loop's back-off would only add minutes to the first alarm.
            unchecked = exc
    configure_logging(settings.log_level, settings.log_json)
    for warning in start_warnings(settings):
        log.warning(warning)
    if unchecked is not None:
        log.warning(f"{unchecked}; starting anyway, the schema is not checked")
    if args.migrate:
        upgrade_sync(settings.database_url)

    async def main() -> None:
        await serve(build_services(settings))

    asyncio.run(main())
    return 0
