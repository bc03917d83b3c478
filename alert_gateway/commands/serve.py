"""`alert-gateway serve`: run the gateway (MQTT ingest, escalation, HTTP API and console)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
from typing import TYPE_CHECKING, Any

from ..errors import Unreachable
from ..settings import Settings

if TYPE_CHECKING:
    from aiohttp import web

    from ..gateway import Gateway
    from ..services import Services

log = logging.getLogger(__name__)
LISTEN_BACKLOG = 1024  # pending connections the kernel queues for us (see serve)
# Collect the youngest generation every 5,000 net new objects, not CPython's 700: at 100 alarms/s
# the 700 window promoted every in-flight alarm's coroutines, sessions and rows to the old
# generations, whose full passes then took ~1.9 s of CPU in a 40 s bench run (issue 11). Measured
# against 10,000: 15 % more collector CPU, young pauses a third shorter (p99 11 vs 15 ms CPU).
GC_THRESHOLDS = (5_000, 10, 10)
# How long the handlers in flight when the HTTP server stops may take before they are cut (then as
# long again to unwind): a webhook answers in milliseconds, one behind a busy database in a few
# seconds; aiohttp's default (60 s) would let one stuck request hold the stop that long.
HTTP_SHUTDOWN_SECONDS = 5.0


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
    # No collections while modules load and the app is built: all of it lives as long as the
    # process and is frozen in serve() (CPython ran four full passes over up to 240k objects).
    gc.disable()
    from ..db.migrate import require_migrated, upgrade_sync
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


async def serve(services: Services) -> None:
    """Run the gateway and its HTTP server until SIGINT/SIGTERM (the composition root)."""
    # Imported when run, not when the CLI registers its commands (a quick `token list` stays quick).
    from aiohttp import web

    from ..gateway import Gateway
    from ..web.app import make_app, make_runner

    gateway = Gateway(services)
    app = make_app(services, gateway)
    runner = make_runner(app, handle_signals=False, shutdown_timeout=HTTP_SHUTDOWN_SECONDS)
    await runner.setup()
    # Twilio posts several callbacks per notification: in a storm hundreds of connections open at
    # once, and aiohttp's default listen backlog (128) drops the rest's SYNs (retried after 1, 3,
    # 7 s by the kernel). The kernel caps it at net.core.somaxconn.
    site = web.TCPSite(runner, services.settings.http_host, services.settings.http_port,
                       backlog=LISTEN_BACKLOG)
    await site.start()
    await gateway.start()  # warms up first: the SQL compiled, statements prepared, pools filled
    # Everything built so far, the warm-up's caches included, lives as long as the process: keep
    # it out of the collector's full passes, which otherwise re-walk it while heartbeats churn
    # through 100,000s of objects. Once only: a frozen object that later dies in a cycle is never
    # collected.
    gc.collect()  # garbage frozen now would never be freed
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    gc.enable()
    services.metrics.gc_pauses.install()
    log.info(
        "gateway listening",
        extra={"url": f"http://{services.settings.http_host}:{services.settings.http_port}"},
    )
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("shutting down")
    await shut_down(gateway, runner)


async def shut_down(gateway: Gateway, runner: web.AppRunner) -> None:
    """Stop what uses the database before the database: the gateway's tasks first, while the HTTP
    server still takes the callbacks about their last sends (readiness is false at once, so a load
    balancer sends nothing new); then the HTTP server, whose handlers in flight finish or are cut
    within HTTP_SHUTDOWN_SECONDS; the database last, once no handler can still be using it."""
    await gateway.stop()
    await runner.cleanup()
    await gateway.services.close()
