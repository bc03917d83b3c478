"""Linking a LINE account: a one-time code from a supervisor, sent to the official account.

A contact links to receive a resident's alarms; a resident links to receive a disaster sweep's
message with its 無事です / 助けが必要 buttons. The code is a credential (whoever sends it receives
those messages), so only its SHA-256 is stored; it works once and expires after
`line_link_code_hours`. A new code replaces the owner's unused ones. Blocking the account (an
unfollow event) unlinks it everywhere.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import Contact, LineLinkCode, Resident
from ..errors import NotFound

Linked = Contact | Resident  # who owns a LINE link

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
    code, expires = await _new_code(session, col(LineLinkCode.contact_id) == contact_id,
                                    actor=actor, now=now, hours=hours, contact_id=contact_id)
    return contact, code, expires


async def create_resident_code(session: AsyncSession, *, resident_id: str, actor: str,
                               now: datetime, hours: int) -> tuple[Resident, str, datetime]:
    """A new code for the resident themselves (their unused ones stop working)."""
    resident = await session.get(Resident, resident_id)
    if resident is None or not resident.active or resident.erased_at is not None:
        raise NotFound(f"no active resident {resident_id}")
    code, expires = await _new_code(session, col(LineLinkCode.resident_id) == resident_id,
                                    actor=actor, now=now, hours=hours, resident_id=resident_id)
    return resident, code, expires


async def _new_code(session: AsyncSession, owner: ColumnElement[bool], *, actor: str, now: datetime,
                    hours: int, contact_id: int | None = None,
                    resident_id: str | None = None) -> tuple[str, datetime]:
    await session.exec(delete(LineLinkCode).where(  # type: ignore[call-overload]
        owner, col(LineLinkCode.used_at).is_(None)))
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    expires = now + timedelta(hours=hours)
    session.add(LineLinkCode(code_hash=_hash(code), contact_id=contact_id,
                             resident_id=resident_id, created_by=actor[:120], created_at=now,
                             expires_at=expires))
    return shown(code), expires


async def redeem(session: AsyncSession, *, code: str, line_user_id: str,
                 now: datetime) -> Linked | None:
    """Link the contact or resident whose code this is to `line_user_id`; None if the code does
    not work. The same account sending a used code again (LINE redelivers events) finds them."""
    row = await session.get(LineLinkCode, _hash(code))
    if row is None:
        return None
    owner: Linked | None = (await session.get(Contact, row.contact_id) if row.contact_id
                            else await session.get(Resident, row.resident_id))
    if owner is None or not owner.active:
        return None
    if row.used_at is not None:
        return owner if owner.line_user_id == line_user_id else None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=now.tzinfo)
    if now >= expires:
        return None
    row.used_at = now
    owner.line_user_id, owner.updated_at = line_user_id, now
    return owner


async def unlink(session: AsyncSession, *, line_user_id: str, now: datetime) -> list[Linked]:
    """Forget a LINE account on every contact and resident it was linked to (the person blocked
    us)."""
    owners: list[Linked] = [
        *(await session.exec(select(Contact).where(col(Contact.line_user_id) == line_user_id))).all(),
        *(await session.exec(select(Resident).where(col(Resident.line_user_id) == line_user_id))).all()]
    for owner in owners:
        owner.line_user_id, owner.updated_at = None, now
    return owners


async def linked(session: AsyncSession, line_user_id: str) -> list[Linked]:
    """The active contacts and residents linked to this LINE account."""
    return [
        *(await session.exec(select(Contact).where(
            col(Contact.line_user_id) == line_user_id, col(Contact.active).is_(True)))).all(),
        *(await session.exec(select(Resident).where(
            col(Resident.line_user_id) == line_user_id, col(Resident.active).is_(True)))).all()]
