"""`alert-gateway line code CONTACT_ID` and `line resident-code RESIDENT_ID`: a one-time LINE
link code for a contact (alarms) or a resident (a disaster sweep's message)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
from typing import Any

from ..settings import Settings


def register(subparsers: Any) -> None:
    """Add `line` and its actions."""
    parser = subparsers.add_parser("line", help="LINE: link codes for contacts and residents.")
    actions = parser.add_subparsers(dest="line_action", required=True, metavar="ACTION")
    code = actions.add_parser(
        "code", help="Issue a one-time link code (replacing the contact's unused ones); the contact "
                     "adds the official account and sends it. Only its SHA-256 is stored.")
    code.add_argument("contact_id", metavar="CONTACT_ID", type=int)
    code.add_argument("--by", default="cli", metavar="NAME",
                      help="Who issued it, for the audit log (default: cli).")
    code.set_defaults(handler=_code)
    mine = actions.add_parser(
        "resident-code", help="The same for a resident's own LINE: a disaster sweep's message "
                              "and its 無事です / 助けが必要です buttons reach it.")
    mine.add_argument("resident_id", metavar="RESIDENT_ID")
    mine.add_argument("--by", default="cli", metavar="NAME",
                      help="Who issued it, for the audit log (default: cli).")
    mine.set_defaults(handler=_code)


def _code(args: argparse.Namespace, settings: Settings) -> int:
    from ..clock import SystemClock
    from ..db.audit import AuditAction
    from ..db.engine import make_engine, make_sessions
    from ..db.migrate import require_migrated
    from ..line import linking
    from ..privacy import audit

    require_migrated(settings.database_url)
    now = SystemClock().now()  # the CLI edge is where the clock is read

    resident_id: str | None = getattr(args, "resident_id", None)
    owner = f"resident {resident_id}" if resident_id else f"contact {args.contact_id}"

    async def main() -> tuple[str, str, datetime]:
        engine = make_engine(settings.database_url)
        actor = f"cli:{args.by}"
        hours = settings.line_link_code_hours
        try:
            async with make_sessions(engine)() as session:
                if resident_id:
                    resident, code, expires = await linking.create_resident_code(
                        session, resident_id=resident_id, actor=actor, now=now, hours=hours)
                    name, of = resident.name, resident.id
                else:
                    contact, code, expires = await linking.create_code(
                        session, contact_id=args.contact_id, actor=actor, now=now, hours=hours)
                    name, of = contact.name, contact.resident_id
                audit.record(session, actor=actor, action=AuditAction.CONTACT_CHANGE,
                             resident_id=of, now=now, detail=f"{owner}: LINE code")
                await session.commit()
                return name, code, expires
        finally:
            await engine.dispose()

    name, code, expires = asyncio.run(main())
    print(f"LINE link code for {name} ({owner}), valid until "
          f"{expires.strftime('%Y-%m-%d %H:%M UTC')}, once:\n\n{code}\n\n"
          "They add the official account as a friend in LINE and send this code.")
    return 0
