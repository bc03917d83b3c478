"""`alert-gateway user add NAME --role operator|supervisor`: create a console account."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

from ..db.auth import Role
from ..errors import InvalidInput
from ..settings import Settings


def register(subparsers: Any) -> None:
    """Add `user` and its actions."""
    parser = subparsers.add_parser("user", help="Manage dispatch console operator accounts.")
    actions = parser.add_subparsers(dest="user_action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="Create an operator account. The password is read from standard input when it is "
        "not a terminal (for scripts), else asked for twice without echo.",
    )
    add.add_argument("name", help="Sign-in name (letters, digits, '.', '_', '-').")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.OPERATOR.value)
    add.add_argument("--display-name", default=None, help="Name shown on timelines and the board.")
    add.add_argument("--language", choices=["ja", "en"], default="ja")
    add.set_defaults(handler=_add)


def read_password() -> str:
    """The new password: one line from a pipe, or typed twice at a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise InvalidInput("the passwords differ")
    return first


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from ..clock import SystemClock
    from ..console import accounts
    from ..db.engine import make_engine, make_sessions
    from ..db.migrate import require_migrated

    require_migrated(settings.database_url)  # before the password is typed, and the file created
    password = read_password()

    async def main() -> None:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessions(engine)() as session:
                await accounts.create(session, name=args.name, role=Role(args.role),
                                      password=password, now=SystemClock().now(),
                                      display_name=args.display_name, language=args.language)
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(main())
    print(f"operator {args.name} created ({args.role})")
    return 0
