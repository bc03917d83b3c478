"""`alert-gateway receive sia`: take alarm panels' SIA DC-09 reports without running `serve`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..settings import Settings


def register(subparsers: Any) -> None:
    """Add `receive` and its protocols (today: sia)."""
    parser = subparsers.add_parser(
        "receive",
        help="Receive alarm panels' reports (SIA DC-09) and forward them to the gateway.",
        description="Listen for panels and forward each event over MQTT as a device-contract "
        "message; an alarm is ACKed to the panel only once the gateway has committed it.",
    )
    protocols = parser.add_subparsers(dest="protocol", required=True, metavar="PROTOCOL")
    sia = protocols.add_parser(
        "sia",
        help="SIA DC-09 over TCP and UDP (docs/devices/sia-dc09.md).",
        description="SIA DC-09 receiver over TCP and UDP (same port). Accounts map to registered "
        "devices through the accounts file; an account not in it reports as device "
        "sia-<ACCOUNT> (alerts from an unregistered device). Uses the gateway's MQTT and "
        "database settings.",
    )
    sia.add_argument("--port", type=_port, default=None,
                     help="TCP and UDP port (default: ALERT_GATEWAY_SIA_PORT).")
    sia.add_argument("--host", default=None,
                     help="Address to bind (default: ALERT_GATEWAY_SIA_HOST, 127.0.0.1).")
    sia.add_argument("--accounts", type=Path, default=None,
                     help="Accounts file (default: ALERT_GATEWAY_SIA_ACCOUNTS_FILE).")
    sia.set_defaults(handler=_receive_sia)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1 to 65535, got {port}")
    return port


def _receive_sia(args: argparse.Namespace, settings: Settings) -> int:
    from prometheus_client import CollectorRegistry

    from ..bridges.sia_accounts import load_accounts
    from ..bridges.sia_bridge import SiaBridge
    from ..clock import SystemClock
    from ..db.engine import make_engine, make_sessions
    from ..logs import configure_logging
    from ..preflight import ensure_port_free

    port = args.port or settings.sia_port
    if port is None:
        raise InvalidInput("receive sia: give --port or set ALERT_GATEWAY_SIA_PORT")
    host = args.host or settings.sia_host
    ensure_port_free(host, port, setting="--port")
    accounts = load_accounts(args.accounts or settings.sia_accounts_file)  # ConfigError: exit 3
    configure_logging(settings.log_level, settings.log_json)

    async def main() -> None:
        engine = make_engine(settings.database_url)  # for rejected frames only
        try:
            bridge = SiaBridge(settings, sessions=make_sessions(engine), clock=SystemClock(),
                               registry=CollectorRegistry(),  # not served yet (docs: Limits)
                               port=port, host=host, accounts=accounts)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, stop.set)
            await bridge.run(stop)
        finally:
            await engine.dispose()

    asyncio.run(main())
    return 0
