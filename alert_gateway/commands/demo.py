"""`alert-gateway demo`: the gateway, simulated homes, a fake Twilio and the console in one command."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InvalidInput
from ..privacy import keys
from ..settings import ENV_PREFIX, Settings


def register(subparsers: Any) -> None:
    """Add `demo`."""
    from ..demo.data import DEMO_RESIDENTS
    from ..demo.traffic import SCENARIO_CHOICES

    parser = subparsers.add_parser(
        "demo",
        help="Run a self-contained demo: gateway, console, simulated homes and a fake Twilio.",
        description="Starts everything in one process with no external services: SQLite in the "
        "data folder, the local Mosquitto if one answers on 127.0.0.1:1883 (else an embedded "
        "broker), the fake Twilio with its phones page, the demo residents, simulated homes and a "
        "`demo` supervisor account. Prints the URLs and the sign-in; Ctrl-C stops it. Running it "
        "again picks up the same data.",
    )
    parser.add_argument("--data-dir", type=Path, default=Path("data/demo"),
                        help="Folder for the SQLite file and the demo password (default data/demo).")
    parser.add_argument("--port", type=int, default=None,
                        help="Console and API port (default: ALERT_GATEWAY_HTTP_PORT, else 8080).")
    parser.add_argument("--twilio-port", type=int, default=8099,
                        help="Fake Twilio port; its phones page is at / (default 8099).")
    parser.add_argument(
        "--scenario", default="demo", metavar="NAME|FILE",
        help=f"{' or '.join(SCENARIO_CHOICES)} (default: gentle random alarms plus a pendant press "
        "a few seconds in), or a simulator scenario such as pendant-at-3am",
    )
    parser.add_argument("--mqtt-url", default=None,
                        help="Use this broker (anonymous, or the settings' MQTT account).")
    parser.add_argument("--embedded-broker", action="store_true",
                        help="Use the embedded amqtt broker even when Mosquitto is running.")
    parser.add_argument("--residents", type=Path, default=DEMO_RESIDENTS,
                        help="Residents file to import and simulate (default: the demo residents).")
    parser.add_argument("-v", "--verbose", action="store_true", help="Show the gateway's INFO logs.")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from ..demo.data import DemoOptions
    from ..demo.runner import run_demo
    from ..demo.traffic import resolve_traffic
    from ..logs import configure_logging
    from ..preflight import ensure_port_free

    try:
        resolve_traffic(args.scenario, args.residents)
    except ConfigError as exc:  # a mistyped --scenario or --residents is a usage error
        raise InvalidInput(str(exc)) from None
    port = args.port if args.port is not None else settings.http_port
    ensure_port_free("127.0.0.1", port,
                     setting="--port" if args.port is not None else f"{ENV_PREFIX}HTTP_PORT")
    ensure_port_free("127.0.0.1", args.twilio_port, setting="--twilio-port")
    options = DemoOptions(
        data_dir=args.data_dir, port=port, twilio_port=args.twilio_port,
        scenario=args.scenario, mqtt_url=args.mqtt_url, embedded_broker=args.embedded_broker,
        residents=args.residents, verbose=args.verbose,
    )
    configure_logging("INFO" if args.verbose else "WARNING", json=False)
    drill = settings.model_copy(update={"drill_mode": True})  # the demo is a drill: fake Twilio only
    keys.install(drill)  # no data key configured: the demo's own, ephemeral
    return asyncio.run(run_demo(options, drill))
