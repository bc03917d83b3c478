"""`alert-gateway token create|list|revoke`: bearer tokens for /api/v1."""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from ..access import tokens
from ..db.engine import make_engine, make_sessions
from ..db.migrate import require_migrated
from ..settings import Settings

T = TypeVar("T")


def register(subparsers: Any) -> None:
    """Add `token` and its actions."""
    parser = subparsers.add_parser(
        "token", help="API bearer tokens: every /api/v1 request needs one."
    )
    actions = parser.add_subparsers(dest="token_action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", help="Create a token and print it once; only its SHA-256 is stored."
    )
    create.add_argument("name", metavar="NAME",
                        help="Who uses it, e.g. city-dashboard (shown as api:NAME on timelines).")
    create.add_argument("--expires-in", metavar="AGE", type=expiry, default=None,
                        help="Stop the token working after AGE, e.g. 90d, 12w or 36h "
                             "(default: until revoked).")
    create.set_defaults(handler=_create)
    listing = actions.add_parser(
        "list", help="Show every token: name, created, expiry, last used, state.")
    listing.set_defaults(handler=_list)
    revoke = actions.add_parser("revoke", help="Stop a token working at once.")
    revoke.add_argument("name", metavar="NAME")
    revoke.set_defaults(handler=_revoke)


_AGE = re.compile(r"^\s*(\d{1,5})\s*([hdw])\s*$")
_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
LONGEST = timedelta(days=3650)


def expiry(text: str) -> timedelta:
    """`90d`, `12w` or `36h` as a duration (argparse turns the error into one usage line)."""
    found = _AGE.match(text)
    if found is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an age: write a number and h, d or w, e.g. 90d")
    age = int(found[1]) * _UNIT[found[2]]
    if not timedelta(hours=1) <= age <= LONGEST:
        raise argparse.ArgumentTypeError(f"{text!r}: choose between 1h and 3650d")
    return age


def _run(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    require_migrated(settings.database_url)  # before the engine, which would create the file

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


def _create(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)  # the CLI edge is where the clock is read
    row, token = _run(settings, lambda s: tokens.create(s, name=args.name, now=now,
                                                        expires_in=args.expires_in))
    until = f" It works until {_when(row.expires_at)}." if row.expires_at else ""
    print(f"Token {args.name!r} created.{until} It is shown only now; store it in a secret store:\n")
    print(token)
    print("\nSend it as the header  Authorization: Bearer <token>")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    rows = _run(settings, tokens.get_all)
    if not rows:
        print("No tokens yet: `alert-gateway token create NAME`.")
        return 0
    now = datetime.now(UTC)
    print(f"{'NAME':<24} {'CREATED':<20} {'EXPIRES':<20} {'LAST USED':<20} STATE")
    for row in rows:
        expires = _when(row.expires_at) if row.expires_at else "-"
        last = _when(row.last_used_at) if row.last_used_at else "never"
        state = ("revoked" if row.revoked
                 else "expired" if tokens.is_expired(row, now=now) else "active")
        print(f"{row.name:<24} {_when(row.created_at):<20} {expires:<20} {last:<20} {state}")
    return 0


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    _run(settings, lambda s: tokens.revoke(s, name=args.name))
    print(f"Token {args.name!r} revoked; requests using it now get 401.")
    return 0


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
