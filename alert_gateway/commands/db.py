"""`alert-gateway db upgrade`: apply database migrations."""

from __future__ import annotations

import argparse
from typing import Any

from ..db.migrate import upgrade_sync
from ..settings import Settings


def register(subparsers: Any) -> None:
    """Add `db` and its actions."""
    parser = subparsers.add_parser("db", help="Database schema management.")
    actions = parser.add_subparsers(dest="db_action", required=True, metavar="ACTION")
    upgrade = actions.add_parser(
        "upgrade", help="Create or migrate the schema to the latest version (safe to run twice)."
    )
    upgrade.add_argument("--revision", default="head", help="Target revision (default: head).")
    upgrade.set_defaults(handler=_upgrade)


def _upgrade(args: argparse.Namespace, settings: Settings) -> int:
    upgrade_sync(settings.database_url, args.revision)
    print(f"database schema is at {args.revision}")
    return 0
