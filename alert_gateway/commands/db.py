"""`alert-gateway db upgrade|downgrade|current`: the database schema, as alembic has them."""

from __future__ import annotations

import argparse
from typing import Any

from ..db.migrate import display_url, downgrade_sync, head_revision, schema_state, upgrade_sync
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
    downgrade = actions.add_parser(
        "downgrade", help="Take the schema back to an older revision (before running an older "
        "version of the gateway). Data in dropped tables and columns is lost."
    )
    downgrade.add_argument("revision", metavar="REVISION",
                           help="-1 (one step back), a revision id, or base (nothing).")
    downgrade.set_defaults(handler=_downgrade)
    current = actions.add_parser(
        "current", help="Show the schema's revision and whether it is this version's head."
    )
    current.set_defaults(handler=_current)


def _upgrade(args: argparse.Namespace, settings: Settings) -> int:
    upgrade_sync(settings.database_url, args.revision)
    print(f"database schema: {_current_line(settings)}")
    return 0


def _downgrade(args: argparse.Namespace, settings: Settings) -> int:
    downgrade_sync(settings.database_url, args.revision)
    print(f"database schema: {_current_line(settings)}")
    return 0


def _current(args: argparse.Namespace, settings: Settings) -> int:
    print(f"{display_url(settings.database_url)}: {_current_line(settings)}")
    return 0


def _current_line(settings: Settings) -> str:
    return schema_state(settings.database_url).describe(head_revision())
