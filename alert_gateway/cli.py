"""`alert-gateway` command line: each sub-command lives in alert_gateway/commands/<name>.py."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from . import commands
from .errors import GatewayError
from .privacy import keys
from .settings import Settings

# One line on stderr and a distinct status for each ordinary mistake (README: "Exit codes").
EXIT_CODES = """exit codes:
  0  done
  1  unexpected failure (a bug: please report it with the log)
  2  usage: a wrong option or argument, or a request that cannot be done as asked
  3  configuration: a setting, the --config file, a secret file, or placeholder credentials
  4  database not migrated (or migrated by a newer version): run `alert-gateway db upgrade`
  5  the HTTP port is in use
  6  the database does not answer (serve warns and starts anyway)
  130 interrupted (Ctrl-C)"""


def build_parser() -> argparse.ArgumentParser:
    """The parser with every sub-command registered by its module's `register(subparsers)`."""
    parser = argparse.ArgumentParser(
        prog="alert-gateway",
        description="Emergency-call gateway: MQTT alarms from home devices to people who can help.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
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
    """Run one sub-command; an ordinary mistake becomes one line on stderr and its exit code."""
    args = build_parser().parse_args(argv)  # usage errors: argparse prints them and exits 2
    try:
        settings = Settings.load(args.config)
        keys.install(settings)  # sealed columns (db/sealed.py) read and write with it
        return int(args.handler(args, settings) or 0)
    except GatewayError as exc:
        print(f"alert-gateway: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _version() -> str:
    try:
        return version("alert-gateway")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"
