"""`python -m devices`: run the device simulator against a broker."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from devices.contract import TOPIC_ROOT
from devices.simulator import (
    RandomTraffic,
    SimulatorConfig,
    SimulatorError,
    run_simulator,
    scenario_names,
)

PASSWORD_ENV = "DEVSIM_MQTT_PASSWORD"  # the shared (multiplexed) account's password, never argv


def build_parser() -> argparse.ArgumentParser:
    """The simulator's command line (also usable by `alert-gateway simulate`)."""
    p = argparse.ArgumentParser(
        prog="python -m devices",
        description="Simulated home devices that speak the device contract over MQTT.",
    )
    homes = p.add_mutually_exclusive_group()
    homes.add_argument("--homes", type=Path, metavar="FILE", help="residents YAML (importer's)")
    homes.add_argument("--generate", type=int, metavar="N", help="generate N homes")
    p.add_argument("--seed", type=int, default=0, help="seed for generated homes and randomness")
    p.add_argument(
        "--scenario", metavar="NAME|FILE", help=f"one of {', '.join(scenario_names())} or a file"
    )
    p.add_argument("--list-scenarios", action="store_true", help="list the shipped scenarios")
    p.add_argument("--random", action="store_true", help="random alarms at --rate rates")
    p.add_argument(
        "--rate",
        action="append",
        default=[],
        metavar="TYPE=N",
        help="alarms per home per hour for --random, e.g. sos=0.5 (repeatable)",
    )
    p.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883")
    p.add_argument("--topic-root", default=TOPIC_ROOT)
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--mode", choices=["auto", "per-device", "multiplexed"], default="auto")
    p.add_argument("--connections", type=int, default=1, help="multiplexed mode: connections")
    p.add_argument("--mqtt-username", help=f"shared account; password from ${PASSWORD_ENV}")
    p.add_argument(
        "--credentials", type=Path, metavar="FILE", help="YAML map of device id to MQTT password"
    )
    p.add_argument("--heartbeat-interval", type=float, help="seconds, overrides every device's")
    p.add_argument("--retry-initial", type=float, default=5.0, help="first alarm repeat after (s)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """A SimulatorConfig from parsed arguments."""
    traffic = None
    if args.random or args.rate:
        rates = RandomTraffic.parse_rates(args.rate)
        traffic = RandomTraffic(rates=rates) if rates else RandomTraffic()
    generate = args.generate
    if generate is None and args.homes is None and args.scenario is None:
        generate = 10  # something to watch when no homes are given
    credentials = {}
    if args.credentials is not None:
        raw = yaml.safe_load(args.credentials.read_text(encoding="utf-8")) or {}
        credentials = {str(k): str(v) for k, v in raw.items()}
    return SimulatorConfig(
        mqtt_url=args.mqtt_url,
        topic_root=args.topic_root,
        homes_file=args.homes,
        generate=generate,
        seed=args.seed,
        scenario=args.scenario,
        random_traffic=traffic,
        speed=args.speed,
        duration=args.duration,
        mode=args.mode,
        connections=args.connections,
        credentials=credentials,
        mqtt_username=args.mqtt_username,
        mqtt_password=os.environ.get(PASSWORD_ENV),
        heartbeat_interval=args.heartbeat_interval,
        retry_initial=args.retry_initial,
    )


async def _run(config: SimulatorConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    report = await run_simulator(config, stop=stop)
    print(report.summary())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run until done or Ctrl-C, print the report."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if args.list_scenarios:
        print("\n".join(scenario_names()))
        return 0
    try:
        return asyncio.run(_run(config_from_args(args)))
    except (SimulatorError, ValueError, OSError) as exc:
        print(f"devices: {exc}", file=sys.stderr)
        return 2
