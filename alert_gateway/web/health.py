"""Liveness, readiness, a detailed health view (each dependency pinged) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from ..access.bearer import authenticate
from ..appkeys import GATEWAY, SERVICES
from ..errors import Unauthorized

if TYPE_CHECKING:
    from ..services import Services

INGEST_STUCK_SECONDS = 15  # as AlertGatewayIngestStuck (config/prometheus/alert-gateway.rules.yml)


async def livez(request: web.Request) -> web.Response:
    """The process answers: a liveness probe restarts it only when this fails."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready for HTTP work (console, API, Twilio webhooks): database answers, not shutting down.

    The MQTT broker is not part of it: every replica shares the broker, so a broker outage would
    take them all out of the load balancer at once, and with them the webhooks that carry
    acknowledgements. Its state is in /healthz and `alert_gateway_mqtt_connected`.
    """
    checks = await _serving_checks(request)
    ready = all(v == "ok" for v in checks.values())
    checks["ingest"], ingest = _ingest(request)  # informational: not part of `ready`
    _sia(request, checks)
    body = {"ready": ready, "checks": checks, "ingest": ingest}
    return web.json_response(body, status=200 if ready else 503)


async def healthz(request: web.Request) -> web.Response:
    """The detailed view: every dependency, the broker included; always 200, the truth in the body.

    "status" is "ok" when every check is, "degraded" otherwise. A probe pointed here by mistake
    never restarts or removes a replica; alerting on the same facts is the metrics' job.
    """
    checks = await _serving_checks(request)
    ready = all(v == "ok" for v in checks.values())
    checks["mqtt"] = "ok" if _services(request).ingest.connection.connected.is_set() else "disconnected"
    checks["ingest"], ingest = _ingest(request)
    _sia(request, checks)
    status = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    return web.json_response({"status": status, "ready": ready, "checks": checks, "ingest": ingest})


def _services(request: web.Request) -> Services:
    return request.app[SERVICES]


async def _serving_checks(request: web.Request) -> dict[str, str]:
    """What taking HTTP work needs: the database answers and the gateway is not shutting down."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            async with _services(request).engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"  # the class only: messages may quote data
    gateway = request.app.get(GATEWAY)
    checks["gateway"] = "ok" if gateway is not None and gateway.ready else "not running"
    return checks


def _ingest(request: web.Request) -> tuple[str, dict[str, float]]:
    """The ingest check's word and its numbers (backlog, age of the oldest unstored message)."""
    ingest = _services(request).ingest
    age = ingest.oldest_pending_seconds()
    return _ingest_detail(age), {"backlog": ingest.backlog, "oldest_pending_seconds": round(age, 3)}


def _sia(request: web.Request, checks: dict[str, str]) -> None:
    """The SIA receiver's state when it runs (informational, like ingest: docs/devices/sia-dc09.md)."""
    gateway = request.app.get(GATEWAY)
    if gateway is not None and (status := gateway.sia_status()) is not None:
        checks["sia"] = status


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
    services = request.app[SERVICES]
    try:
        await authenticate(request, services.sessions, services.clock.now())
    except Unauthorized as exc:
        raise web.HTTPUnauthorized(text=str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc


def add_routes(app: web.Application) -> None:
    """Register the routes that answer without credentials."""
    app.router.add_get("/livez", livez)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
