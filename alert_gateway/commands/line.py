"""`alert-gateway line code CONTACT_ID`: a one-time LINE link code for a contact."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
from typing import Any

from ..settings import Settings


def register(subparsers: Any) -> None:
    """Add `line` and its actions."""
    parser = subparsers.add_parser("line", help="LINE: link codes for contacts.")
    actions = parser.add_subparsers(dest="line_action", required=True, metavar="ACTION")
    code = actions.add_parser(
        "code", help="Issue a one-time link code (replacing the contact's unused ones); the contact "
                     "adds the official account and sends it. Only its SHA-256 is stored.")
    code.add_argument("contact_id", metavar="CONTACT_ID", type=int)
    code.add_argument("--by", default="cli", metavar="NAME",
                      help="Who issued it, for the audit log (default: cli).")
    code.set_defaults(handler=_code)


def _code(args: argparse.Namespace, settings: Settings) -> int:
    from ..clock import SystemClock
    from ..db.audit import AuditAction
    from ..db.engine import make_engine, make_sessions
    from ..db.migrate import require_migrated
    from ..line import linking
    from ..privacy import audit

    require_migrated(settings.database_url)
    now = SystemClock().now()  # the CLI edge is where the clock is read

    async def main() -> tuple[str, str, datetime]:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessions(engine)() as session:
                contact, code, expires = await linking.create_code(
                    session, contact_id=args.contact_id, actor=f"cli:{args.by}", now=now,
                    hours=settings.line_link_code_hours)
                audit.record(session, actor=f"cli:{args.by}", action=AuditAction.CONTACT_CHANGE,
                             resident_id=contact.resident_id, now=now,
                             detail=f"contact {args.contact_id}: LINE code")
                await session.commit()
                return contact.name, code, expires
        finally:
            await engine.dispose()

    name, code, expires = asyncio.run(main())
    print(f"LINE link code for {name} (contact {args.contact_id}), valid until "
          f"{expires.strftime('%Y-%m-%d %H:%M UTC')}, once:\n\n{code}\n\n"
          "The contact adds the official account as a friend in LINE and sends this code.")
    return 0
