"""`alert-gateway residents erase ID --yes`: a resident who leaves the service."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ..errors import InvalidInput
from ..settings import Settings


def register(subparsers: Any) -> None:
    """Add `residents` and its actions."""
    parser = subparsers.add_parser("residents", help="Residents' records: erase one who left.")
    actions = parser.add_subparsers(dest="residents_action", required=True, metavar="ACTION")
    erase = actions.add_parser(
        "erase",
        help="Erase a resident who left: personal fields and contacts removed, devices unlinked, "
        "alert details purged; alerts stay countable by type, outcome and time. Cannot be undone.",
    )
    erase.add_argument("resident_id", metavar="ID")
    erase.add_argument("--yes", action="store_true", help="Confirm: the erasure cannot be undone.")
    erase.add_argument("--by", default="cli", metavar="NAME",
                       help="Who asked for it, for the audit log (default: cli).")
    erase.set_defaults(handler=_erase)


def _erase(args: argparse.Namespace, settings: Settings) -> int:
    from ..clock import SystemClock
    from ..db.engine import make_engine, make_sessions
    from ..db.migrate import require_migrated
    from ..privacy.erasure import Erasure, erase

    if not args.yes:
        raise InvalidInput(f"erasing resident {args.resident_id!r} cannot be undone: "
                           "add --yes to confirm")
    require_migrated(settings.database_url)

    async def main() -> Erasure:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessions(engine)() as session:
                done = await erase(session, resident_id=args.resident_id,
                                   actor=f"cli:{args.by}", now=SystemClock().now())
                await session.commit()
                return done
        finally:
            await engine.dispose()

    done = asyncio.run(main())
    print(f"Resident {args.resident_id!r} erased: personal fields cleared, {done.contacts} "
          f"contact(s) anonymised, {done.devices} device(s) unlinked, {done.alerts} alert(s) "
          "stripped of details (still counted in reports).")
    return 0
