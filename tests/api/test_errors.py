"""Errors under /api/v1 are JSON with a code and a sentence, whatever went wrong."""

from __future__ import annotations

from pathlib import Path

from alert_gateway.db.engine import make_engine, make_sessions

from .conftest import Api


async def test_an_unknown_route_is_a_json_404(api_sqlite: Api) -> None:
    """A path nobody registered answers 404 in the error shape."""
    resp = await api_sqlite.client.get("/api/v1/nothing-here", headers=api_sqlite.auth)
    assert resp.status == 404
    assert await resp.json() == {"error": "not_found",
                                 "message": "There is nothing at /api/v1/nothing-here."}


async def test_a_wrong_method_is_a_json_405(api_sqlite: Api) -> None:
    """DELETE on a read-only collection is 405 naming the allowed method."""
    resp = await api_sqlite.client.delete("/api/v1/alerts", headers=api_sqlite.auth)
    assert resp.status == 405
    assert resp.headers["Allow"] == "GET"
    assert (await resp.json())["error"] == "method_not_allowed"


async def test_an_unexpected_failure_is_a_500_without_internals(
    api_sqlite: Api, tmp_path: Path
) -> None:
    """When a query fails the answer is a plain 500 sentence, no exception text."""
    broken = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    api_sqlite.services.sessions = make_sessions(broken)  # a database without tables
    try:
        resp = await api_sqlite.client.get("/api/v1/alerts", headers=api_sqlite.auth)
    finally:
        await broken.dispose()
    assert resp.status == 500
    body = await resp.json()
    assert body == {"error": "internal",
                    "message": "Something went wrong in the gateway; the error is logged."}
