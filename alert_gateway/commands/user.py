"""`alert-gateway user add|list|passwd`: console accounts from the command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.auth import Role
from ..errors import InvalidInput
from ..settings import Settings

T = TypeVar("T")


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
    listing = actions.add_parser("list", help="List the accounts: name, role, state, language, "
                                 "phone rung first for console calls, display name.")
    listing.set_defaults(handler=_list)
    passwd = actions.add_parser(
        "passwd",
        help="Set a new password (read from standard input when it is not a terminal, else asked "
        "for twice); the account's console sessions end at once.",
    )
    passwd.add_argument("name", help="Sign-in name of the account.")
    passwd.set_defaults(handler=_passwd)


def read_password() -> str:
    """The new password: one line from a pipe, or typed twice at a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise InvalidInput("the passwords differ")
    return first


def _in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one session on the configured database, then commit."""
    from ..db.engine import make_engine, make_sessions

    async def main() -> T:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessions(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from ..clock import SystemClock
    from ..console import accounts
    from ..db.migrate import require_migrated

    require_migrated(settings.database_url)  # before the password is typed, and the file created
    password = read_password()
    _in_session(settings, lambda session: accounts.create(
        session, name=args.name, role=Role(args.role), password=password,
        now=SystemClock().now(), display_name=args.display_name, language=args.language))
    print(f"operator {args.name} created ({args.role})")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from ..console import accounts
    from ..db.migrate import require_migrated

    require_migrated(settings.database_url)
    for o in _in_session(settings, accounts.get_all):
        state = "active" if o.active else "inactive"
        print("\t".join((o.name, o.role, state, o.language, o.phone or "-", o.display_name or "")))
    return 0


def _passwd(args: argparse.Namespace, settings: Settings) -> int:
    from ..console import accounts
    from ..db.migrate import require_migrated

    require_migrated(settings.database_url)
    password = read_password()

    async def change(session: AsyncSession) -> None:
        operator = await accounts.find(session, name=args.name)
        assert operator.id is not None
        await accounts.set_password(session, operator_id=operator.id, password=password)

    _in_session(settings, change)
    print(f"{args.name}: パスワードを変更しました。コンソールのセッションは終了しました。\n"
          f"{args.name}: password changed; their console sessions have ended")
    return 0
