"""`alert-gateway data new-key|rotate-key`: the key sealing key-safe codes and medical notes."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ..db import sealed
from ..db.engine import make_engine
from ..db.migrate import require_migrated
from ..errors import ConfigError
from ..privacy import keys
from ..settings import Settings


def register(subparsers: Any) -> None:
    """Add `data` and its actions."""
    parser = subparsers.add_parser(
        "data", help="Personal data at rest: make a data key, re-seal rows after a key change.")
    actions = parser.add_subparsers(dest="data_action", required=True, metavar="ACTION")
    new = actions.add_parser("new-key", help="Print a fresh key for ALERT_GATEWAY_DATA_KEY.")
    new.set_defaults(handler=_new_key)
    rotate = actions.add_parser(
        "rotate-key",
        help="Re-seal every key-safe code and medical note with the first key of "
        "ALERT_GATEWAY_DATA_KEY (older keys listed after it still open old rows); "
        "rows stored in clear before encryption get sealed too.")
    rotate.set_defaults(handler=_rotate)


def _new_key(args: argparse.Namespace, settings: Settings) -> int:
    print(sealed.new_key())
    return 0


def _rotate(args: argparse.Namespace, settings: Settings) -> int:
    if settings.data_key is None:
        raise ConfigError(sealed.NO_KEY)
    require_migrated(settings.database_url)  # keys are installed by cli.main

    async def main() -> int:
        engine = make_engine(settings.database_url)
        try:
            return await keys.rotate(engine)
        finally:
            await engine.dispose()

    changed = asyncio.run(main())
    print(f"Re-sealed {changed} resident record(s) with the newest key. Once every replica runs "
          "with the new key first, the old key can be removed from ALERT_GATEWAY_DATA_KEY.")
    return 0
