"""POST /api/v1/alerts/{id}/<action>: actions run as api:<token name>, commit, then reach the bus."""

from __future__ import annotations

from alert_gateway.bus import AlertChange, ChangeKind

from . import seed
from .conftest import Api


async def post(api: Api, path: str, body: object = None, status: int = 200) -> dict[str, object]:
    """POST with the token, check the status, return the JSON body."""
    resp = await api.client.post(path, json=body, headers=api.auth)
    assert resp.status == status, await resp.text()
    result: dict[str, object] = await resp.json()
    return result


async def open_alert(api: Api) -> int:
    """A resident with an open SOS alert."""
    await seed.resident(api.services.sessions, api.clock)
    return await seed.alert(api.services.sessions, api.clock)


async def test_acknowledge_records_the_token_and_api_channel(api: Api) -> None:
    """An acknowledgement through the API is by api:<token name> on the api channel."""
    alert_id = await open_alert(api)
    seen: list[AlertChange] = []

    async def listen(change: AlertChange) -> None:
        seen.append(change)

    api.services.bus.subscribe(listen)
    body = await post(api, f"/api/v1/alerts/{alert_id}/acknowledge", {})
    assert (body["status"], body["ack_channel"]) == ("acknowledged", "api")
    assert body["acknowledged_by"] == "api:tester"
    assert await api.services.bus.drain(5)  # delivery runs beside the request, not inside it
    assert seen == [AlertChange(alert_id, ChangeKind.ACKNOWLEDGED)]


async def test_resolve_with_an_unknown_outcome_lists_the_allowed_ones(api_sqlite: Api) -> None:
    """A bad outcome is a 400 whose message names every valid outcome; nothing changes."""
    alert_id = await open_alert(api_sqlite)
    body = await post(api_sqlite, f"/api/v1/alerts/{alert_id}/resolve", {"outcome": "fine"}, 400)
    assert body["error"] == "invalid_input"
    for outcome in ("accidental", "ambulance", "family_attended", "other"):
        assert f"'{outcome}'" in str(body["message"])
    resp = await api_sqlite.client.get(f"/api/v1/alerts/{alert_id}", headers=api_sqlite.auth)
    assert (await resp.json())["status"] == "open"


async def test_resolve_with_an_outcome_closes_the_alert(api: Api) -> None:
    """A valid outcome resolves the alert and keeps the outcome."""
    alert_id = await open_alert(api)
    await post(api, f"/api/v1/alerts/{alert_id}/acknowledge", {})
    body = await post(api, f"/api/v1/alerts/{alert_id}/resolve", {"outcome": "accidental"})
    assert (body["status"], body["outcome"]) == ("resolved", "accidental")


async def test_a_note_appears_on_the_timeline(api: Api) -> None:
    """POST notes answers 201 with the event, which the detail then shows."""
    alert_id = await open_alert(api)
    event = await post(api, f"/api/v1/alerts/{alert_id}/notes", {"text": "家族に電話済み"}, 201)
    assert (event["kind"], event["actor"]) == ("note", "api:tester")
    resp = await api.client.get(f"/api/v1/alerts/{alert_id}", headers=api.auth)
    timeline = (await resp.json())["timeline"]
    assert timeline[-1]["message"] == "家族に電話済み"


async def test_an_action_on_a_missing_alert_is_a_404(api_sqlite: Api) -> None:
    """Acknowledging an alert that does not exist is a JSON 404."""
    body = await post(api_sqlite, "/api/v1/alerts/999/acknowledge", {}, 404)
    assert body["error"] == "not_found"


async def test_acting_on_a_resolved_alert_is_a_409(api_sqlite: Api) -> None:
    """Acknowledging after resolve conflicts with the alert's state and says so."""
    alert_id = await open_alert(api_sqlite)
    await post(api_sqlite, f"/api/v1/alerts/{alert_id}/resolve", {"outcome": "test"})
    body = await post(api_sqlite, f"/api/v1/alerts/{alert_id}/acknowledge", {}, 409)
    assert body["error"] == "conflict" and "resolved" in str(body["message"])
