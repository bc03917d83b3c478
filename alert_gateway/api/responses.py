"""JSON responses from pydantic models (pydantic's encoder handles datetimes and enums)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from .schemas import Page


def model_response(model: BaseModel, *, status: int = 200) -> web.Response:
    """One model as a JSON response."""
    return web.Response(
        text=model.model_dump_json(), status=status, content_type="application/json"
    )


def page_response(item_type: type[BaseModel], rows: Sequence[Any], *, total: int | None,
                  limit: int, offset: int) -> web.Response:
    """A Page of `item_type` built from rows."""
    items = [item_type.model_validate(row) for row in rows]
    return model_response(Page[item_type](items=items, total=total, limit=limit, offset=offset))  # type: ignore[valid-type]
