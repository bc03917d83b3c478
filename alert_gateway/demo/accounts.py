"""The demo supervisor account and API token: fixed names, secrets kept in the data folder."""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path

from sqlmodel import col, select

from ..access import tokens
from ..console import accounts
from ..console.passwords import verify_password
from ..db.auth import ApiToken, Operator, Role
from ..db.engine import SessionFactory

DEMO_NAME = "demo"
PASSWORD_FILE = "demo-password.txt"
TOKEN_FILE = "demo-api-token.txt"


def _stored_secret(path: Path, make: str) -> str:
    """A secret from the data folder, written (owner-readable only) on the first run."""
    if path.is_file():
        secret = path.read_text(encoding="utf-8").strip()
        if secret:
            return secret
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(make + "\n")
    return make


def stored_password(data_dir: Path) -> str:
    """The demo password (16 characters: above the console's minimum length)."""
    return _stored_secret(data_dir / PASSWORD_FILE, secrets.token_urlsafe(12))


async def ensure_demo_token(sessions: SessionFactory, data_dir: Path, *, now: datetime) -> str:
    """The `demo` API token from the data folder, valid in the database (repaired if not)."""
    token = _stored_secret(data_dir / TOKEN_FILE, secrets.token_urlsafe(32))
    async with sessions() as session:
        row = (await session.exec(select(ApiToken).where(col(ApiToken.name) == DEMO_NAME))).first()
        if row is None:
            session.add(ApiToken(name=DEMO_NAME, token_hash=tokens.hash_token(token),
                                 created_at=now))
        else:  # the file wins over a revoked or replaced token, as for the password
            row.token_hash, row.revoked, row.expires_at = tokens.hash_token(token), False, None
        await session.commit()
    return token


async def ensure_demo_account(sessions: SessionFactory, data_dir: Path, *, now: datetime) -> tuple[str, str]:
    """Create or repair the `demo` supervisor so the stored password signs in; (name, password)."""
    password = stored_password(data_dir)
    async with sessions() as session:
        query = select(Operator).where(col(Operator.name) == DEMO_NAME)
        operator = (await session.exec(query)).first()
        if operator is None:
            await accounts.create(session, name=DEMO_NAME, role=Role.SUPERVISOR, password=password,
                                  now=now, display_name="Demo supervisor", language="ja")
        elif operator.id is not None and not (
            operator.active and verify_password(operator.password_hash, password)
        ):
            # the file and the database can part (file deleted, database copied): the file wins
            await accounts.set_active(session, operator_id=operator.id, active=True)
            await accounts.set_password(session, operator_id=operator.id, password=password)
        await session.commit()
    return DEMO_NAME, password
