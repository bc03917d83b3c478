"""Column helpers shared by the table modules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlmodel import Field


def utcnow() -> datetime:
    """Default for created/updated columns; domain code passes `now` explicitly instead."""
    return datetime.now(UTC)


def enum_field(default: Any = ..., *, length: int = 24, index: bool = False) -> Any:
    """A StrEnum stored as plain text, so new values need no database type migration."""
    return Field(default=default, sa_type=String(length), index=index)


def json_field(default_factory: Any = dict) -> Any:
    """A JSON document column."""
    return Field(default_factory=default_factory, sa_type=JSON)
