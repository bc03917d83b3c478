"""Liveness, readiness (each dependency pinged) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from .keys import GATEWAY, SERVICES

INGEST_STUCK_SECONDS = 15  # as AlertGatewayIngestStuck (config/prometheus/alert-gateway.rules.yml)


async def healthz(request: web.Request) -> web.Response:
    """The process answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers, MQTT is connected and the gateway is not shutting down."""
    services = request.app[SERVICES]
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            async with services.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    checks["mqtt"] = "ok" if services.ingest.connection.connected.is_set() else "disconnected"
    gateway = request.app.get(GATEWAY)
    checks["gateway"] = "ok" if gateway is not None and gateway.ready else "not running"
    ready = all(v == "ok" for v in checks.values())
    age = services.ingest.oldest_pending_seconds()
    checks["ingest"] = _ingest_detail(age)  # informational: not part of `ready`
    if (sia := services.extras.get("sia")) is not None:  # informational too (docs/devices/sia-dc09.md)
        checks["sia"] = sia.status()  # type: ignore[attr-defined]
    ingest = {"backlog": services.ingest.backlog, "oldest_pending_seconds": round(age, 3)}
    body = {"ready": ready, "checks": checks, "ingest": ingest}
    return web.json_response(body, status=200 if ready else 503)


def _ingest_detail(age: float) -> str:
    """'ok', or how long the oldest message read has waited to be stored (a stuck ingest).

    Informational only: a replica whose database refuses writes says so here and in the
    AlertGatewayIngestStuck alert, without being taken out of the load balancer by it.
    """
    return "ok" if age <= INGEST_STUCK_SECONDS else f"stuck: oldest message read {age:.0f} s ago"


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition (charset goes in headers: aiohttp rejects it in content_type)."""
    services = request.app[SERVICES]
    if services.settings.metrics_require_auth:
        await _require_token(request)
    registry = services.metrics.registry
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _require_token(request: web.Request) -> None:
    """The same bearer tokens as the API, for scrapers outside a trusted network."""
    from ..api import tokens
    from ..api.auth import bearer_token
    from ..errors import Unauthorized

    services = request.app[SERVICES]
    try:
        token = bearer_token(request)
        async with services.sessions() as session:
            await tokens.authenticate(session, token=token, now=services.clock.now())
            await session.commit()
    except Unauthorized as exc:
        raise web.HTTPUnauthorized(text=str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc


def add_routes(app: web.Application) -> None:
    """Register the routes that answer without credentials."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
