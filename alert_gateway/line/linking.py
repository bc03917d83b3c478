"""Linking a contact's LINE account: a one-time code from a supervisor, sent to the official account.

The code is a credential (whoever sends it receives that resident's alarms), so only its SHA-256
is stored; it works once and expires after `line_link_code_hours`. A new code replaces the
contact's unused ones. Blocking the account (an unfollow event) unlinks it.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import datetime, timedelta

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import Contact, LineLinkCode
from ..errors import NotFound

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read aloud and typed on a phone
CODE_LENGTH = 8  # 40 bits, and a code lives a few days at most


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalize(text: str) -> str | None:
    """A link code as typed (full-width, lower case, spaces or a hyphen) or None if it is not one."""
    folded = unicodedata.normalize("NFKC", text).upper().replace("-", "").replace(" ", "").strip()
    if len(folded) != CODE_LENGTH or any(ch not in ALPHABET for ch in folded):
        return None
    return folded


def shown(code: str) -> str:
    """The code as printed for people: ABCD-EFGH."""
    return f"{code[:4]}-{code[4:]}"


async def create_code(session: AsyncSession, *, contact_id: int, actor: str, now: datetime,
                      hours: int) -> tuple[Contact, str, datetime]:
    """A new code for the contact (their unused ones stop working); returns it as shown once."""
    contact = await session.get(Contact, contact_id)
    if contact is None or not contact.active:
        raise NotFound(f"no active contact {contact_id}")
    await session.exec(delete(LineLinkCode).where(  # type: ignore[call-overload]
        col(LineLinkCode.contact_id) == contact_id, col(LineLinkCode.used_at).is_(None)))
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    expires = now + timedelta(hours=hours)
    session.add(LineLinkCode(code_hash=_hash(code), contact_id=contact_id, created_by=actor[:120],
                             created_at=now, expires_at=expires))
    return contact, shown(code), expires


async def redeem(session: AsyncSession, *, code: str, line_user_id: str,
                 now: datetime) -> Contact | None:
    """Link the contact whose code this is to `line_user_id`; None if the code does not work.

    The same account sending a used code again (LINE redelivers events) finds its contact.
    """
    row = await session.get(LineLinkCode, _hash(code))
    if row is None:
        return None
    contact = await session.get(Contact, row.contact_id)
    if contact is None or not contact.active:
        return None
    if row.used_at is not None:
        return contact if contact.line_user_id == line_user_id else None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=now.tzinfo)
    if now >= expires:
        return None
    row.used_at = now
    contact.line_user_id, contact.updated_at = line_user_id, now
    return contact


async def unlink(session: AsyncSession, *, line_user_id: str, now: datetime) -> list[Contact]:
    """Forget a LINE account on every contact it was linked to (the person blocked us)."""
    contacts = list((await session.exec(
        select(Contact).where(col(Contact.line_user_id) == line_user_id))).all())
    for contact in contacts:
        contact.line_user_id, contact.updated_at = None, now
    return contacts


async def linked(session: AsyncSession, line_user_id: str) -> list[Contact]:
    """The active contacts linked to this LINE account."""
    return list((await session.exec(select(Contact).where(
        col(Contact.line_user_id) == line_user_id, col(Contact.active).is_(True)))).all())
