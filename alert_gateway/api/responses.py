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


def page_response(page_type: type[Page[Any]], rows: Sequence[Any], *, total: int | None,
                  limit: int, offset: int) -> web.Response:
    """A page built from table rows (validated into the page's item schema)."""
    page = page_type.model_validate(
        {"items": rows, "total": total, "limit": limit, "offset": offset}, from_attributes=True
    )
    return model_response(page)
