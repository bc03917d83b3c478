"""`alert-gateway simulate`: the device simulator (`python -m devices`) under the gateway's command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from ..settings import Settings


def register(subparsers: Any) -> None:
    """Add `simulate` with the simulator's own options."""
    from devices.cli import build_parser

    parser = subparsers.add_parser(
        "simulate",
        parents=[build_parser()],
        add_help=False,  # the parent parser brings its own -h
        help="Simulate home devices that speak the device contract over MQTT.",
        description="The device simulator: many homes, heartbeats, scripted scenarios or random "
        "alarms. The broker URL and topic root default to the gateway's settings.",
    )
    # None: taken from the gateway's settings, so `simulate` talks to the broker `serve` uses
    parser.set_defaults(handler=_simulate, mqtt_url=None, topic_root=None)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from devices.cli import config_from_args
    from devices.simulator import SimulatorError, run_simulator, scenario_names

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if args.list_scenarios:
        print("\n".join(scenario_names()))
        return 0
    args.mqtt_url = args.mqtt_url or settings.mqtt_url
    args.topic_root = args.topic_root or settings.mqtt_topic_root

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        report = await run_simulator(config_from_args(args), stop=stop)
        print(report.summary())
        return 0

    try:
        return asyncio.run(main())
    except (SimulatorError, ValueError, OSError) as exc:
        print(f"alert-gateway simulate: {exc}", file=sys.stderr)
        return 2
