"""`alert-gateway serve`: run the gateway (MQTT ingest, escalation, HTTP API and console)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ..settings import Settings


def register(subparsers: Any) -> None:
    """Add `serve`."""
    parser = subparsers.add_parser(
        "serve",
        help="Run the gateway: take alarms from MQTT, escalate, serve the API and console.",
        description="Run the gateway until SIGINT or SIGTERM. Apply migrations first "
        "(alert-gateway db upgrade) or pass --migrate.",
    )
    parser.add_argument("--migrate", action="store_true", help="Apply database migrations first.")
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from ..db.migrate import upgrade_sync
    from ..gateway import serve
    from ..logs import configure_logging
    from ..services import build_services

    configure_logging(settings.log_level, settings.log_json)
    if args.migrate:
        upgrade_sync(settings.database_url)

    async def main() -> None:
        await serve(build_services(settings))

    asyncio.run(main())
    return 0
