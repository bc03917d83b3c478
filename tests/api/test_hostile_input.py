"""Hostile input on every /api/v1 route (from the OpenAPI document): 4xx with a reason, never 5xx."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.alerts import Alert
from alert_gateway.db.escalation import AlertResponder

from .hostile import (
    ENCODED_SURROGATE,
    HOSTILE_NUMBERS,
    HOSTILE_VALUES,
    NUL,
    Edge,
    edge_app,
    encoded_path,
    url,
)

BASE_BODIES = {"resolve": {"outcome": "test"}, "add_note": {"text": "checked"}}
BODY_VARIANTS: tuple[Any, ...] = (*HOSTILE_NUMBERS, "abc", NUL, True, None, [], {})


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m[1]], template)


async def _walk_operation(edge: Edge, doc: dict[str, Any], path: str, method: str,
                          operation: dict[str, Any]) -> int:
    """Send hostile path values, query values and body fields to one operation; returns the count."""
    valid = {"alert_id": str(edge.alert_id), "resident_id": "r-0001",
             "device_id": "pendant-r-0001", "sweep_id": "1"}
    params = operation.get("parameters", [])
    sent = 0

    async def send(target: Any, body: str | None = None) -> None:
        nonlocal sent
        headers = edge.auth | ({"Content-Type": "application/json"} if body is not None else {})
        async with edge.client.request(method.upper(), target, data=body,
                                       headers=headers) as response:
            await edge.note(response, body)
        sent += 1

    for name in (p["name"] for p in params if p["in"] == "path"):
        for raw in (*map(encoded_path, HOSTILE_VALUES), ENCODED_SURROGATE):
            await send(url(_fill(path, valid | {name: raw})))
    concrete = _fill(path, valid)
    for name in (p["name"] for p in params if p["in"] == "query"):
        for value in HOSTILE_VALUES:
            await send(url(concrete, {name: value}))
        await send(url(f"{concrete}?{name}={ENCODED_SURROGATE}"))
    if "requestBody" in operation:
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
        base = BASE_BODIES.get(operation["operationId"], {})
        for prop in schema["properties"]:
            for variant in BODY_VARIANTS:
                await send(url(concrete), json.dumps(base | {prop: variant}))
            # JSON may spell an unpaired surrogate; json.dumps would escape the backslash.
            await send(url(concrete), '{"' + prop + '": "\\ud800"}')
        await send(url(concrete), '{"\\u0000": 1}')
    return sent


async def test_no_api_route_answers_5xx_to_hostile_input(database_url: str, clock: FakeClock) -> None:
    """NUL, unpaired surrogates, 2**31, 2**63, -1, 10**30 and words in every path, query and body
    field of every documented operation: never a 5xx."""
    async with edge_app(database_url, clock) as edge:
        doc = await (await edge.client.get("/api/v1/openapi.json")).json()
        sent = 0
        for path, operations in doc["paths"].items():
            for method, operation in operations.items():
                sent += await _walk_operation(edge, doc, path, method, operation)
        assert sent > 200, sent
        assert edge.failures == [], "\n".join(edge.failures)


async def test_nul_and_huge_numbers_get_a_400_that_names_the_field(
        database_url: str, clock: FakeClock) -> None:
    """A NUL in a query or body value, an id beyond the column and a loosely typed body field are
    refused with a reason."""
    async with edge_app(database_url, clock) as edge:
        cases = [
            ("GET", url("/api/v1/residents", {"search": NUL}), None, 400, "search"),
            ("GET", url("/api/v1/alerts", {"offset": str(10**30)}), None, 400, "offset"),
            ("POST", url(f"/api/v1/alerts/{edge.alert_id}/notes"), json.dumps({"text": NUL}),
             400, "body.text"),
            ("POST", url(f"/api/v1/alerts/{edge.alert_id}/acknowledge"),
             json.dumps({"contact_id": 2**31}), 400, "contact_id"),
            # As the OpenAPI document says: a boolean is not an id, a number is not a boolean.
            ("POST", url(f"/api/v1/alerts/{edge.alert_id}/acknowledge"),
             json.dumps({"contact_id": True}), 400, "contact_id"),
            ("POST", url(f"/api/v1/alerts/{edge.alert_id}/take"), json.dumps({"force": 0}),
             400, "force"),
            ("GET", url(f"/api/v1/alerts/{2**31}"), None, 404, "There is no alert"),
            ("GET", url(f"/api/v1/residents/{encoded_path(NUL)}"), None, 400, "resident_id"),
        ]
        for method, target, body, status, words in cases:
            response = await edge.client.request(method, target, data=body, headers=edge.auth)
            answer = await response.json()
            assert (response.status, answer["error"]) == (
                status, {400: "invalid_input", 404: "not_found"}[status]), answer
            assert words in answer["message"], answer


async def test_acknowledge_naming_another_residents_contact_is_refused(
        database_url: str, clock: FakeClock) -> None:
    """A contact id of another resident is a 400 that says so; the alert stays open, no responder."""
    async with edge_app(database_url, clock) as edge:
        for action in ("acknowledge", "arrival"):
            response = await edge.client.post(
                f"/api/v1/alerts/{edge.alert_id}/{action}",
                json={"contact_id": edge.other_contact_id}, headers=edge.auth)
            answer = await response.json()
            assert response.status == 400, answer
            assert answer["message"] == (f"contact {edge.other_contact_id} is not a contact of "
                                         f"resident r-0001, whose alert {edge.alert_id} this is")
        async with edge.services.sessions() as session:
            alert = await session.get(Alert, edge.alert_id)
            responders = (await session.exec(select(AlertResponder))).all()
        assert alert is not None and alert.status == "open" and alert.acknowledged_at is None
        assert responders == []
        response = await edge.client.post(
            f"/api/v1/alerts/{edge.alert_id}/acknowledge",
            json={"contact_id": edge.contact_id}, headers=edge.auth)
        assert response.status == 200, await response.text()
        assert (await response.json())["status"] == "acknowledged"
