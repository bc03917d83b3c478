"""`alert-gateway import FILE`: import residents, contacts and devices from a YAML or CSV file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from ..settings import Settings


def register(subparsers: Any) -> None:
    """Add `import` (the module has another name: `import` is a Python keyword)."""
    parser = subparsers.add_parser(
        "import",
        help="Import residents, contacts and devices from a YAML or CSV file.",
        description="Validates the whole file first: with any error nothing is written and every "
        "problem is listed with its line (exit code 2). Residents and devices are matched by id, "
        "contacts by resident and phone, so importing the same file again changes nothing.",
    )
    parser.add_argument("file", type=Path, help="A .yaml, .yml or .csv file (see docs).")
    parser.add_argument("--migrate", action="store_true", help="Apply database migrations first.")
    parser.set_defaults(handler=_import)


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from ..clock import SystemClock
    from ..db.engine import make_engine, make_sessions
    from ..db.migrate import require_migrated, upgrade_sync
    from ..logs import configure_logging
    from ..residents.importer import ImportReport, import_file

    configure_logging("ERROR", json=False)  # the report below says it all; no log lines on top
    if args.migrate:
        upgrade_sync(settings.database_url)
    else:
        require_migrated(settings.database_url)

    async def main() -> ImportReport:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessions(engine)() as session:
                return await import_file(session, args.file, now=SystemClock().now())
        finally:
            await engine.dispose()

    report = asyncio.run(main())
    if report.ok:
        print(report.summary())
        return 0
    print(f"{args.file}: nothing imported, {len(report.errors)} error(s):", file=sys.stderr)
    for error in report.errors:
        print(f"  {error}", file=sys.stderr)
    return 2
