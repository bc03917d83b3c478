"""Query and body parsing for /api/v1; each failure is an InvalidInput a person can act on."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from ..errors import InvalidInput, NotFound
from ..validation import MAX_COUNT, check_texts, parse_id, walk_json

MAX_LIMIT = 200
DEFAULT_LIMIT = 50

E = TypeVar("E", bound=StrEnum)
M = TypeVar("M", bound=BaseModel)


def check_request(request: web.Request) -> None:
    """Every path and query value is text the databases can store (BadText, a 400, otherwise)."""
    check_texts(request.match_info.items())
    check_texts(request.query.items())


def int_query(request: web.Request, name: str, *, default: int, minimum: int,
              maximum: int = MAX_COUNT) -> int:
    """An integer query parameter within bounds (never beyond what a query parameter holds)."""
    raw = request.query.get(name)
    if raw is None:
        return default
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        message = f"Query parameter {name!r} must be a whole number, not {raw[:40]!r}."
        raise InvalidInput(message)
    value = int(raw) if len(digits) <= 30 else None  # int() of a huge string costs CPU
    if value is None or not minimum <= value <= maximum:
        raise InvalidInput(f"Query parameter {name!r} must be between {minimum} and {maximum}; "
                           f"it was {raw[:40]}.")
    return value


def page(request: web.Request) -> tuple[int, int]:
    """`limit` (1..200, default 50) and `offset` (≥ 0)."""
    limit = int_query(request, "limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    return limit, int_query(request, "offset", default=0, minimum=0)


def enum_value(enum: type[E], raw: str, name: str) -> E:
    """One value of `enum`, spelled exactly; the error lists the allowed ones."""
    try:
        return enum(raw)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise InvalidInput(f"{name} {raw[:40]!r} is not known; use one of: {allowed}.") from None


def enum_query(request: web.Request, name: str, enum: type[E]) -> E | None:
    """A query parameter naming one value of `enum`; absent means any."""
    raw = request.query.get(name)
    return None if raw is None else enum_value(enum, raw, name)


def enum_list_query(request: web.Request, name: str, enum: type[E]) -> list[E] | None:
    """Comma-separated values of `enum` (the document's pattern: no blanks, no spaces)."""
    raw = request.query.get(name)
    return None if raw is None else [enum_value(enum, part, name) for part in raw.split(",")]


def text_query(request: web.Request, name: str) -> str | None:
    """A free-text query parameter; blank counts as absent."""
    value = request.query.get(name, "").strip()
    return value or None


def bool_query(request: web.Request, name: str) -> bool | None:
    """`true` or `false`; absent means "either"."""
    raw = request.query.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise InvalidInput(f"Query parameter {name!r} must be true or false, not {raw[:40]!r}.")
    return raw == "true"


def check_query_names(request: web.Request, allowed: frozenset[str]) -> None:
    """Refuse a query parameter the operation does not take (a typo would filter nothing)."""
    for name in request.query:
        if name not in allowed:
            takes = ", ".join(sorted(allowed)) or "none"
            raise InvalidInput(f"Unknown query parameter {name[:40]!r}; this operation takes: "
                               f"{takes}.")


def int_path(request: web.Request, name: str, what: str) -> int:
    """A numeric id from the path; anything else (letters, beyond the column's range) cannot name
    a record, so it is a 404."""
    raw = request.match_info[name]
    value = parse_id(raw)
    if value is None:
        raise NotFound(f"There is no {what} {raw[:40]!r}.")
    return value


async def body(request: web.Request, model: type[M]) -> M:
    """The JSON body validated against `model`; an empty body counts as `{}`."""
    try:
        text = (await request.read()).decode("utf-8")  # JSON is UTF-8 (RFC 8259 §8.1)
    except UnicodeDecodeError as exc:
        message = f"The request body is not UTF-8 text (a bad byte at position {exc.start})."
        raise InvalidInput(message) from None
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        message = f"The request body is not valid JSON ({exc.msg} at character {exc.pos})."
        raise InvalidInput(message) from None
    check_texts(walk_json(data))
    return model.model_validate(data)  # ValidationError becomes a 400 in errors.py
