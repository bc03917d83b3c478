"""GET /api/v1/alerts and /alerts/{id}: filters, order, paging, and the detail with its timeline."""

from __future__ import annotations

from typing import Any

from . import seed
from .conftest import Api


async def get_json(api: Api, path: str, status: int = 200) -> Any:
    """GET with the token, check the status, return the JSON body."""
    resp = await api.client.get(path, headers=api.auth)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_active_alerts_come_first_by_severity_then_age(api: Api) -> None:
    """P1 before P3, older before newer among equals, resolved last."""
    s, c = api.services.sessions, api.clock
    await seed.resident(s, c)
    done = await seed.alert(s, c, status="resolved", age_minutes=60)
    p3 = await seed.alert(s, c, type="low_battery", severity="P3", age_minutes=30)
    new_p1 = await seed.alert(s, c, age_minutes=1)
    old_p1 = await seed.alert(s, c, type="fall", status="acknowledged", age_minutes=5)
    body = await get_json(api, "/api/v1/alerts")
    assert [a["id"] for a in body["items"]] == [old_p1, new_p1, p3, done]
    assert body["total"] == 4 and body["limit"] == 50 and body["offset"] == 0


async def test_alerts_filter_by_status_type_resident_and_severity(api: Api) -> None:
    """Each filter narrows the list and the total."""
    s, c = api.services.sessions, api.clock
    await seed.resident(s, c)
    await seed.resident(s, c, "r-0002")
    sos = await seed.alert(s, c)
    fall = await seed.alert(s, c, type="fall", resident_id="r-0002")
    p3 = await seed.alert(s, c, type="low_battery", severity="P3", status="resolved")
    for query, expected in [
        ("status=resolved", [p3]),
        ("status=active", [sos, fall]),
        ("status=open,resolved&severity=P3", [p3]),
        ("type=fall", [fall]),
        ("resident_id=r-0002", [fall]),
    ]:
        body = await get_json(api, f"/api/v1/alerts?{query}")
        assert sorted(a["id"] for a in body["items"]) == sorted(expected), query
        assert body["total"] == len(expected)


async def test_alerts_page_with_limit_and_offset(api: Api) -> None:
    """limit and offset cut the list; total still counts every match."""
    s, c = api.services.sessions, api.clock
    await seed.resident(s, c)
    ids = [await seed.alert(s, c, age_minutes=10 - i) for i in range(5)]
    body = await get_json(api, "/api/v1/alerts?limit=2&offset=2")
    assert [a["id"] for a in body["items"]] == ids[2:4]
    assert (body["total"], body["limit"], body["offset"]) == (5, 2, 2)


async def test_bad_filters_are_refused_with_the_allowed_values(api_sqlite: Api) -> None:
    """A limit over 200 or an unknown status is a 400 that says what is allowed."""
    body = await get_json(api_sqlite, "/api/v1/alerts?limit=500", 400)
    assert body["error"] == "invalid_input" and "200" in body["message"]
    body = await get_json(api_sqlite, "/api/v1/alerts?status=opened", 400)
    assert "open, acknowledged, cancelled, resolved" in body["message"]


async def test_alert_detail_has_timeline_attempts_and_responders(api: Api) -> None:
    """One alert comes with its timeline in order, its SMS and the contact's state."""
    s, c = api.services.sessions, api.clock
    await seed.resident(s, c)
    alert_id = await seed.alert(s, c, age_minutes=2)
    contact_id = await seed.escalation_trace(s, c, alert_id)
    body = await get_json(api, f"/api/v1/alerts/{alert_id}")
    assert body["id"] == alert_id and body["severity"] == "P1" and body["status"] == "open"
    assert [e["kind"] for e in body["timeline"]] == ["opened", "notification"]
    assert body["attempts"][0]["channel"] == "sms"
    assert body["attempts"][0]["status"] == "delivered"
    [responder] = body["responders"]
    assert (responder["contact_id"], responder["name"]) == (contact_id, "隣人")
    assert (responder["relation"], responder["state"]) == ("neighbour", "notified")


async def test_a_missing_alert_is_a_json_404(api_sqlite: Api) -> None:
    """An unknown or non-numeric alert id gets 404 with a readable message."""
    body = await get_json(api_sqlite, "/api/v1/alerts/999", 404)
    assert body == {"error": "not_found", "message": "There is no alert 999."}
    body = await get_json(api_sqlite, "/api/v1/alerts/abc", 404)
    assert body["error"] == "not_found"
