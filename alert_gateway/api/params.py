"""Query and body parsing for /api/v1; each failure is an InvalidInput a person can act on."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from ..errors import InvalidInput, NotFound

MAX_LIMIT = 200
DEFAULT_LIMIT = 50

E = TypeVar("E", bound=StrEnum)
M = TypeVar("M", bound=BaseModel)


def int_query(request: web.Request, name: str, *, default: int, minimum: int,
              maximum: int | None = None) -> int:
    """An integer query parameter within bounds."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        message = f"Query parameter {name!r} must be a whole number, not {raw!r}."
        raise InvalidInput(message) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise InvalidInput(f"Query parameter {name!r} must be {bound}; it was {value}.")
    return value


def page(request: web.Request) -> tuple[int, int]:
    """`limit` (1..200, default 50) and `offset` (≥ 0)."""
    limit = int_query(request, "limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    return limit, int_query(request, "offset", default=0, minimum=0)


def enum_values(enum: type[E], raw: str, name: str) -> list[E]:
    """Comma-separated enum values, with the allowed list in the error."""
    values = []
    for part in (p.strip() for p in raw.split(",")):
        try:
            values.append(enum(part))
        except ValueError:
            allowed = ", ".join(e.value for e in enum)
            raise InvalidInput(f"{name} {part!r} is not known; use one of: {allowed}.") from None
    return values


def text_query(request: web.Request, name: str) -> str | None:
    """A free-text query parameter; blank counts as absent."""
    value = request.query.get(name, "").strip()
    return value or None


def bool_query(request: web.Request, name: str) -> bool | None:
    """`true` or `false`; absent means "either"."""
    raw = text_query(request, name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise InvalidInput(f"Query parameter {name!r} must be true or false, not {raw!r}.")
    return raw == "true"


def int_path(request: web.Request, name: str, what: str) -> int:
    """A numeric id from the path; anything else cannot name a record, so it is a 404."""
    raw = request.match_info[name]
    if not raw.isdigit():
        raise NotFound(f"There is no {what} {raw!r}.")
    return int(raw)


async def body(request: web.Request, model: type[M]) -> M:
    """The JSON body validated against `model`; an empty body counts as `{}`."""
    text = await request.text()
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        message = f"The request body is not valid JSON ({exc.msg} at character {exc.pos})."
        raise InvalidInput(message) from None
    return model.model_validate(data)  # ValidationError becomes a 400 in errors.py
