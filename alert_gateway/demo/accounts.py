"""The demo supervisor account: fixed name, a random password kept in the data folder."""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path

from sqlmodel import col, select

from ..console import accounts
from ..console.passwords import verify_password
from ..db.auth import Operator, Role
from ..db.engine import SessionFactory

DEMO_NAME = "demo"
PASSWORD_FILE = "demo-password.txt"


def stored_password(data_dir: Path) -> str:
    """The demo password from the data folder, made (owner-readable only) on the first run."""
    path = data_dir / PASSWORD_FILE
    if path.is_file():
        password = path.read_text(encoding="utf-8").strip()
        if password:
            return password
    password = secrets.token_urlsafe(12)  # 16 characters: above the console's minimum length
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(password + "\n")
    return password


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
