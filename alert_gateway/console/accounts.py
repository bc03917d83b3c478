"""Operator accounts: create and list them (shared by the CLI and the supervisors' page)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..calls.numbers import is_emergency
from ..db.auth import Operator, Role
from ..errors import Conflict, InvalidInput, NotFound
from ..i18n import language_of
from ..residents.phones import normalize_phone
from .passwords import check_strength, hash_password
from .sessions import close_all_for

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")


async def create(session: AsyncSession, *, name: str, role: Role, password: str, now: datetime,
                 display_name: str | None = None, language: str = "ja") -> Operator:
    """A new operator account; the caller commits."""
    if not _NAME.match(name):
        raise InvalidInput("the name must be 2-64 letters, digits, '.', '_' or '-'")
    problem = check_strength(password)
    if problem:
        raise InvalidInput(problem)
    existing = (await session.exec(select(Operator).where(col(Operator.name) == name))).first()
    if existing is not None:
        raise Conflict(f"operator {name!r} already exists")
    operator = Operator(name=name, display_name=display_name or None, role=role.value,
                        password_hash=hash_password(password), language=language_of(language),
                        created_at=now)
    session.add(operator)
    await session.flush()
    return operator


async def get_all(session: AsyncSession) -> list[Operator]:
    """Every operator account, active first, by name."""
    query = select(Operator).order_by(col(Operator.active).desc(), col(Operator.name))
    return list((await session.exec(query)).all())


async def get(session: AsyncSession, *, operator_id: int) -> Operator:
    """One operator; NotFound if there is none."""
    operator = await session.get(Operator, operator_id)
    if operator is None:
        raise NotFound(f"no operator {operator_id}")
    return operator


async def set_active(session: AsyncSession, *, operator_id: int, active: bool) -> Operator:
    """(De)activate an account; deactivating ends its sessions at once. The caller commits.

    The last active supervisor stays: without one, nobody could manage accounts from the console.
    """
    operator = await get(session, operator_id=operator_id)
    if not active and operator.active and operator.role == Role.SUPERVISOR.value:
        supervisors = await session.exec(select(Operator.id).where(
            col(Operator.role) == Role.SUPERVISOR.value, col(Operator.active).is_(True)))
        if len(supervisors.all()) <= 1:
            raise Conflict("the last active supervisor cannot be deactivated")
    operator.active = active
    if not active:
        await close_all_for(session, operator_id=operator_id)
    await session.flush()
    return operator


async def set_password(session: AsyncSession, *, operator_id: int, password: str) -> Operator:
    """Set a new password and end the account's sessions. The caller commits."""
    problem = check_strength(password)
    if problem:
        raise InvalidInput(problem)
    operator = await get(session, operator_id=operator_id)
    operator.password_hash = hash_password(password)
    await close_all_for(session, operator_id=operator_id)
    await session.flush()
    return operator


async def find(session: AsyncSession, *, name: str) -> Operator:
    """One operator by sign-in name; NotFound if there is none."""
    operator = (await session.exec(select(Operator).where(col(Operator.name) == name))).first()
    if operator is None:
        raise NotFound(f"no operator {name!r}")
    return operator


async def set_phone(session: AsyncSession, *, operator_id: int, phone: str | None) -> Operator:
    """The phone click-to-call rings first for this operator (blank clears it). Caller commits."""
    operator = await get(session, operator_id=operator_id)
    if phone and is_emergency(phone):
        raise InvalidInput("110/118/119 cannot be an operator's phone")
    operator.phone = normalize_phone(phone)[0] if phone else None
    await session.flush()
    return operator
