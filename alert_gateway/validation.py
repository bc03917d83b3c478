"""Edge rules for what the databases can hold, shared by the API, the console and the webhooks.

PostgreSQL refuses a NUL character in text and cannot encode an unpaired surrogate (asyncpg
raises before sending); every id column is INTEGER, int32 on PostgreSQL (SQLite would take
int64, so the narrower range is the rule). Values are checked once, where they enter, so inner
code can trust them and a bad one is a 400 with a reason, never a database error and a 500.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import Field, Strict

from .errors import InvalidInput

MAX_ID = 2**31 - 1  # INTEGER primary keys (db/migrations/versions/0001_core_schema.py)
MAX_COUNT = 2**31 - 1  # offsets and other counts go through the same int32 parameters


def text_problem(value: str) -> str | None:
    """Why the databases cannot store `value`, or None when they can."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (not valid Unicode text)"
    return None


class BadText(InvalidInput):
    """A text value the databases cannot store; `field` says which one."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}; remove it and send the text again.")
        self.field = field
        self.problem = problem


def first_bad_text(items: Iterable[tuple[str, Any]]) -> BadText | None:
    """The first (name, value) pair whose text value the databases cannot store."""
    for name, value in items:
        for part in (name, value):
            if isinstance(part, str) and (problem := text_problem(part)) is not None:
                return BadText(name if part is value else "a field name", problem)
    return None


def check_texts(items: Iterable[tuple[str, Any]]) -> None:
    """Raise BadText for the first value the databases cannot store."""
    if (bad := first_bad_text(items)) is not None:
        raise bad


def walk_json(data: Any, where: str = "body") -> Iterable[tuple[str, Any]]:
    """Every (location, string) in a parsed JSON document, keys included."""
    if isinstance(data, str):
        yield where, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield where, key
            yield from walk_json(value, f"{where}.{key}")
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from walk_json(value, f"{where}[{index}]")


def parse_id(raw: str) -> int | None:
    """A record id written in ASCII digits within the column's range, else None."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_ID)):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


# For request schemas: an id a column can hold (never a bool or a numeric string). Text in JSON
# bodies is checked by walking the whole document (api/params.body), so no text type is needed.
RecordId = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
