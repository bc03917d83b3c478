"""`alert-gateway` command line: each sub-command lives in alert_gateway/commands/<name>.py."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

from . import commands
from .errors import GatewayError
from .settings import Settings


def build_parser() -> argparse.ArgumentParser:
    """The parser with every sub-command registered by its module's `register(subparsers)`."""
    parser = argparse.ArgumentParser(
        prog="alert-gateway",
        description="Emergency-call gateway: MQTT alarms from home devices to people who can help.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML settings file (default: config/gateway.toml if present). "
        "ALERT_GATEWAY_* environment variables override it.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command; domain errors become a one-line message and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.load(args.config)
        return int(args.handler(args, settings) or 0)
    except GatewayError as exc:
        print(f"alert-gateway: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
