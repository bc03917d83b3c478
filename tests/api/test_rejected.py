"""GET /api/v1/rejected-messages: bad MQTT input is visible, raw bytes included."""

from __future__ import annotations

import base64

from . import seed
from .conftest import Api
from .test_alerts import get_json


async def test_rejected_messages_show_text_and_exact_bytes(api: Api) -> None:
    """Undecodable bytes become U+FFFD in payload_text; payload_base64 keeps them exactly."""
    raw = b'{"id": "x\xff"}'
    await seed.rejected(api.services.sessions, api.clock, raw)
    body = await get_json(api, "/api/v1/rejected-messages")
    assert body["total"] == 1
    item = body["items"][0]
    assert item["payload_text"] == '{"id": "x\ufffd"}'
    assert base64.b64decode(item["payload_base64"]) == raw
    assert item["reason"] == "not_utf8" and item["device_id"] == "d-1"


async def test_rejected_messages_filter_by_reason(api_sqlite: Api) -> None:
    """A reason filter that matches nothing gives an empty page, an unknown reason a 400."""
    await seed.rejected(api_sqlite.services.sessions, api_sqlite.clock, b"x")
    body = await get_json(api_sqlite, "/api/v1/rejected-messages?reason=oversized")
    assert body == {"items": [], "total": 0, "limit": 50, "offset": 0}
    body = await get_json(api_sqlite, "/api/v1/rejected-messages?reason=weird", 400)
    assert "not_json" in body["message"]
