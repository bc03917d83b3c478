"""Residents and devices through the API; the key-safe code never leaves the gateway this way."""

from __future__ import annotations

from . import seed
from .conftest import Api
from .test_alerts import get_json


async def test_resident_detail_has_contacts_and_devices_but_no_key_code(api: Api) -> None:
    """Contacts in calling order and devices are included; the code is only flagged as present."""
    await seed.resident(api.services.sessions, api.clock)
    resp = await api.client.get("/api/v1/residents/r-0001", headers=api.auth)
    text = await resp.text()
    body = await resp.json()
    assert body["name"] == "山田 花子" and body["has_key_safe_code"] is True
    assert "key_safe_code" not in body and "4711" not in text
    assert [c["priority"] for c in body["contacts"]] == [1, 2]
    assert [d["id"] for d in body["devices"]] == ["pendant-r-0001"]


async def test_residents_search_and_page(api: Api) -> None:
    """Search matches kana typed in hiragana; every page carries the full total."""
    s, c = api.services.sessions, api.clock
    for rid in ("r-0001", "r-0002", "r-0003"):
        await seed.resident(s, c, rid)
    body = await get_json(api, "/api/v1/residents?search=やまだ&limit=2")
    assert [r["id"] for r in body["items"]] == ["r-0001", "r-0002"]
    assert body["total"] == 3
    body = await get_json(api, "/api/v1/residents?limit=2&offset=2")
    assert [r["id"] for r in body["items"]] == ["r-0003"] and body["total"] == 3
    assert all("key_safe_code" not in r for r in body["items"])


async def test_devices_list_filters_by_resident(api: Api) -> None:
    """Devices are listed by id and filtered by resident; one device reads alone."""
    s, c = api.services.sessions, api.clock
    await seed.resident(s, c, "r-0001")
    await seed.resident(s, c, "r-0002")
    body = await get_json(api, "/api/v1/devices?resident_id=r-0002")
    assert [d["id"] for d in body["items"]] == ["pendant-r-0002"] and body["total"] == 1
    device = await get_json(api, "/api/v1/devices/pendant-r-0001")
    assert device["resident_id"] == "r-0001" and device["online"] is True
    missing = await get_json(api, "/api/v1/devices/nope", 404)
    assert missing["error"] == "not_found"
