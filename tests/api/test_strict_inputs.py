"""What schemathesis found, one by one: /api/v1 takes what its document allows and only that."""

from __future__ import annotations

from .conftest import Api


async def _status(api: Api, method: str, path: str, *, json: object = None,
                  data: bytes | None = None) -> tuple[int, str]:
    headers = api.auth | ({"Content-Type": "application/json"} if data is not None else {})
    response = await api.client.request(method, path, headers=headers, json=json, data=data)
    return response.status, await response.text()


async def test_documented_status_and_reason_lists_are_accepted(api_sqlite: Api) -> None:
    """The patterns the document gives for status and reason are exactly what the API reads."""
    doc = await (await api_sqlite.client.get("/api/v1/openapi.json")).json()
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/alerts"]["get"]["parameters"]}
    assert "pattern" in params["status"] and params["severity"]["enum"] == ["P1", "P2", "P3", "P4"]
    for query in ("status=active", "status=open,acknowledged,resolved", "severity=P2", "type=fall"):
        status, text = await _status(api_sqlite, "GET", f"/api/v1/alerts?{query}")
        assert status == 200, (query, text)
    status, text = await _status(api_sqlite, "GET", "/api/v1/rejected-messages?reason=schema,not_json")
    assert status == 200, text


async def test_what_the_document_forbids_is_refused(api_sqlite: Api) -> None:
    """Spaces in a list, two values for a single-valued filter, a blank number or flag, an unknown
    query parameter: 400 with a reason."""
    for path in ("/api/v1/alerts?status=open,%20resolved", "/api/v1/alerts?severity=P1,P2",
                 "/api/v1/alerts?limit=", "/api/v1/residents?active=", "/api/v1/devices?colour=red",
                 "/api/v1/openapi.json?x=1"):
        status, text = await _status(api_sqlite, "GET", path)
        assert status == 400, (path, text)
    status, text = await _status(api_sqlite, "GET", "/api/v1/devices?colour=red")
    assert "Unknown query parameter 'colour'" in text and "online" in text, text


async def test_a_whole_number_written_with_a_point_is_an_id(api_sqlite: Api) -> None:
    """JSON Schema's integer includes 7.0: the body is read (404 for the missing alert), not 400."""
    status, text = await _status(api_sqlite, "POST", "/api/v1/alerts/1/acknowledge",
                                 json={"contact_id": 7.0})
    assert status == 404, text
    status, text = await _status(api_sqlite, "POST", "/api/v1/alerts/1/acknowledge",
                                 json={"contact_id": 7.5})
    assert status == 400, text


async def test_a_body_that_is_not_utf8_is_a_400(api_sqlite: Api) -> None:
    """Bytes that are not UTF-8 get a 400 naming the problem, not a 500."""
    status, text = await _status(api_sqlite, "POST", "/api/v1/alerts/1/resolve", data=b"\xff\xfe")
    assert status == 400 and "UTF-8" in text, text


async def test_resolve_documents_its_body_as_required(api_sqlite: Api) -> None:
    """resolve needs an outcome, so its body is required in the document; the others' is not."""
    doc = await (await api_sqlite.client.get("/api/v1/openapi.json")).json()
    actions = doc["paths"]
    assert actions["/api/v1/alerts/{alert_id}/resolve"]["post"]["requestBody"]["required"] is True
    assert actions["/api/v1/alerts/{alert_id}/take"]["post"]["requestBody"]["required"] is False
