"""Bearer tokens: every /api/v1 route is closed without a live token; health and OpenAPI open."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from alert_gateway.access import tokens
from alert_gateway.api.auth import PUBLIC_PATHS
from alert_gateway.db.auth import ApiToken

from . import seed
from .conftest import Api

SAMPLE = {"alert_id": "1", "resident_id": "r-0001", "device_id": "pendant-r-0001",
          "sweep_id": "1"}


def api_routes(api: Api) -> list[tuple[str, str]]:
    """(method, concrete path) of every registered /api/v1 route except the public ones."""
    app = api.app
    found = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if not path.startswith("/api/v1") or path in PUBLIC_PATHS or route.method == "HEAD":
            continue
        found.append((route.method, re.sub(r"{(\w+)}", lambda m: SAMPLE[m[1]], path)))
    assert len(found) >= 7
    return found


async def last_used(api: Api) -> datetime | None:
    """The tester token's last_used_at."""
    async with api.services.sessions() as s:
        row = await s.get(ApiToken, 1)
        assert row is not None
        return row.last_used_at


async def test_every_route_refuses_a_request_without_a_token(api_sqlite: Api) -> None:
    """No Authorization header gets 401 JSON with WWW-Authenticate on every /api/v1 route."""
    for method, path in api_routes(api_sqlite):
        resp = await api_sqlite.client.request(method, path)
        assert resp.status == 401, (method, path)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        body = await resp.json()
        assert body["error"] == "unauthorized" and "Bearer" in body["message"]


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Basic dXNlcjpwdw==", "Bearer "])
async def test_every_route_refuses_a_wrong_token(api_sqlite: Api, header: str) -> None:
    """A wrong token or scheme gets 401 on every /api/v1 route."""
    for method, path in api_routes(api_sqlite):
        resp = await api_sqlite.client.request(method, path, headers={"Authorization": header})
        assert resp.status == 401, (method, path)
        assert (await resp.json())["error"] == "unauthorized"


async def test_every_read_route_answers_with_a_token(api: Api) -> None:
    """With a live token each GET route answers 200 when its record exists."""
    await seed.resident(api.services.sessions, api.clock)
    await seed.alert(api.services.sessions, api.clock)
    started = await api.client.post("/api/v1/sweeps", json={}, headers=api.auth)
    assert started.status == 201, await started.text()
    for method, path in api_routes(api):
        if method != "GET":
            continue
        resp = await api.client.get(path, headers=api.auth)
        assert resp.status == 200, (path, await resp.text())


async def test_a_revoked_token_is_refused(api_sqlite: Api) -> None:
    """After revoke, the same token gets 401."""
    async with api_sqlite.services.sessions() as s:
        await tokens.revoke(s, name="tester")
        await s.commit()
    resp = await api_sqlite.client.get("/api/v1/alerts", headers=api_sqlite.auth)
    assert resp.status == 401


async def test_unknown_paths_need_a_token_before_they_are_reported(api_sqlite: Api) -> None:
    """An unknown /api/v1 path without a token is 401, so the API reveals nothing to strangers."""
    resp = await api_sqlite.client.get("/api/v1/no-such-thing")
    assert resp.status == 401


async def test_health_and_openapi_need_no_token(api_sqlite: Api) -> None:
    """/healthz and /api/v1/openapi.json answer without a token."""
    assert (await api_sqlite.client.get("/healthz")).status == 200
    assert (await api_sqlite.client.get("/api/v1/openapi.json")).status == 200


async def test_last_used_is_written_at_most_once_a_minute(api_sqlite: Api) -> None:
    """Requests within a minute leave last_used_at alone; one after a minute moves it."""
    first = api_sqlite.clock.now()
    await api_sqlite.client.get("/api/v1/alerts", headers=api_sqlite.auth)
    assert await last_used(api_sqlite) == first
    await api_sqlite.clock.advance(30)
    await api_sqlite.client.get("/api/v1/alerts", headers=api_sqlite.auth)
    assert await last_used(api_sqlite) == first
    later = await api_sqlite.clock.advance(31)
    await api_sqlite.client.get("/api/v1/alerts", headers=api_sqlite.auth)
    assert await last_used(api_sqlite) == later


async def test_an_expired_token_is_refused_with_a_clear_message(api: Api) -> None:
    """A token made to last a day works for a day, then gets 401 saying it expired."""
    async with api.services.sessions() as s:
        _, token = await tokens.create(s, name="short-lived", now=api.clock.now(),
                                       expires_in=timedelta(days=1))
        await s.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert (await api.client.get("/api/v1/alerts", headers=headers)).status == 200
    await api.clock.advance(hours=23, minutes=59)
    assert (await api.client.get("/api/v1/alerts", headers=headers)).status == 200
    await api.clock.advance(minutes=1)
    resp = await api.client.get("/api/v1/alerts", headers=headers)
    body = await resp.json()
    assert resp.status == 401 and body["error"] == "unauthorized", body
    assert "expired at 2026-11-27 18:00 UTC" in body["message"], body
    assert token not in body["message"]
    assert (await api.client.get("/api/v1/alerts", headers=api.auth)).status == 200
