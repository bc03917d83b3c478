"""The one access-log format: route template, identifiers only, the client address as `remote`."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from alert_gateway.logs import REDACTED
from alert_gateway.web.access_log import AccessLog


async def access_lines(buffer: io.StringIO, *paths: str) -> list[dict[str, Any]]:
    """GET each path on a small app served with AccessLog; the access-log entries written."""
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def forbidden(request: web.Request) -> web.Response:
        return web.Response(status=403)

    app = web.Application()
    app.router.add_get(r"/console/alerts/{alert_id:\d+}", ok)
    app.router.add_get("/console/residents/{resident_id}", ok)
    app.router.add_get("/console/residents", ok)
    app.router.add_get("/twilio/voice/status", ok)
    app.router.add_get("/twilio/voice/gather", ok)
    app.router.add_get("/twilio/sms/status", forbidden)
    server = TestServer(app)
    await server.start_server(access_log_class=AccessLog)  # its constructor drops runner options
    async with TestClient(server) as client:
        for path in paths:
            async with client.get(path) as response:
                await response.read()
    entries = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [e for e in entries if e["logger"] == "aiohttp.access"]


async def test_a_search_logs_its_route_and_the_keys_of_its_query(stream: io.StringIO) -> None:
    """`?q=山田` and `?access_token=` keep their keys; ids and counts in known keys stay."""
    [entry] = await access_lines(
        stream, "/console/residents?q=%E5%B1%B1%E7%94%B0&limit=20&attempt=12&access_token=s3cr3t"
    )
    assert entry["event"] == "GET /console/residents 200"
    assert entry["query"] == {"q": REDACTED, "limit": "20", "attempt": "12", "access_token": REDACTED}
    assert (entry["method"], entry["status"], entry["remote"]) == ("GET", 200, "127.0.0.1")
    assert "s3cr3t" not in stream.getvalue() and "山田" not in stream.getvalue()


async def test_path_values_are_kept_only_when_they_are_identifiers(stream: io.StringIO) -> None:
    """An alert id stays; a name or phone typed into a path does not; a 404 names no path."""
    alert, name, phone, missing = await access_lines(
        stream, "/console/alerts/42", "/console/residents/%E5%B1%B1%E7%94%B0",
        "/console/residents/09012345678", "/nowhere/%E5%B1%B1%E7%94%B0",
    )
    assert (alert["route"], alert["path_ids"]) == ("/console/alerts/{alert_id}", {"alert_id": "42"})
    assert name["path_ids"] == {"resident_id": REDACTED}
    assert phone["path_ids"] == {"resident_id": REDACTED}
    assert (missing["event"], missing["route"]) == ("GET [unmatched] 404", "[unmatched]")
    raw = stream.getvalue()
    assert "山田" not in raw and "9012345678" not in raw and "%E5" not in raw, raw


async def test_the_client_address_is_one_field_not_part_of_the_text(stream: io.StringIO) -> None:
    """`remote` holds the address; the event text and other fields do not repeat it."""
    [entry] = await access_lines(stream, "/console/residents")
    assert entry["remote"] == "127.0.0.1"
    assert "127.0.0.1" not in entry["event"]
    assert not any("remote_address" in key or "first_request_line" in key for key in entry)


async def test_a_twilio_status_callback_answered_ok_writes_no_line(stream: io.StringIO) -> None:
    """Status callbacks taken are not logged (their effect is on the attempt); refusals and
    other Twilio webhooks are."""
    entries = await access_lines(stream, "/twilio/voice/status?attempt=1", "/twilio/voice/gather",
                                 "/twilio/sms/status?attempt=2")
    assert [e["event"] for e in entries] == ["GET /twilio/voice/gather 200",
                                             "GET /twilio/sms/status 403"]


def test_below_info_the_access_log_is_off() -> None:
    """At LOG_LEVEL=WARNING aiohttp is told not to time or log requests at all."""
    logger = logging.getLogger("test.access.quiet")
    logger.setLevel(logging.WARNING)
    assert not AccessLog(logger, "").enabled
    logger.setLevel(logging.INFO)
    assert AccessLog(logger, "").enabled
