"""API tokens, operator accounts and console sessions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from .types import enum_field, utcnow


class ApiToken(SQLModel, table=True):
    """A bearer token for /api/v1; only its SHA-256 is stored (the token is 256 random bits)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    expires_at: datetime | None = None  # None: until revoked
    revoked: bool = False


class Role(StrEnum):
    """What an operator may do."""

    OPERATOR = "operator"
    SUPERVISOR = "supervisor"


class Operator(SQLModel, table=True):
    """A person who signs in to the dispatch console."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    display_name: str | None = None
    role: str = enum_field(Role.OPERATOR.value)
    password_hash: str  # argon2
    language: str = "ja"
    # The alarm sound follows the operator to every page and desk; on unless they turned it off.
    sound_on: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    active: bool = True
    # rung first when this operator calls from the console (set by a supervisor), E.164
    phone: str | None = Field(default=None, max_length=20)
    last_sign_in_at: datetime | None = None  # the handover note written since is shown at sign-in
    created_at: datetime = Field(default_factory=utcnow)


class WebSession(SQLModel, table=True):
    """A signed-in console session; the cookie carries the token, the table its SHA-256."""

    token_hash: str = Field(primary_key=True, max_length=64)
    operator_id: int = Field(foreign_key="operator.id", index=True)
    csrf_token: str
    created_at: datetime
    expires_at: datetime


class SignInThrottle(SQLModel, table=True):
    """Recent failed sign-ins for one key: an account, a client address, or the pair of both.

    In the database, not in memory, so that replicas behind a load balancer share one count (an
    attacker gains nothing by spreading guesses over them) and a supervisor's clearing reaches all.
    """

    key: str = Field(primary_key=True, max_length=200)  # "<scope>:<account>|<address>"
    scope: str = Field(max_length=16)
    account: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=64)
    failures: int = 0
    last_failure_at: datetime = Field(index=True)  # quiet rows are swept by it
