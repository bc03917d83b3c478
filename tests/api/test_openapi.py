"""The OpenAPI document is valid 3.1 and documents every registered /api/v1 route."""

from __future__ import annotations

from openapi_spec_validator import validate

from .conftest import Api


async def test_openapi_document_is_valid(api_sqlite: Api) -> None:
    """openapi-spec-validator accepts the document served at /api/v1/openapi.json."""
    resp = await api_sqlite.client.get("/api/v1/openapi.json")
    document = await resp.json()
    assert document["openapi"].startswith("3.1")
    validate(document)


async def test_every_api_route_is_documented(api_sqlite: Api) -> None:
    """Each (method, path) the router serves under /api/v1 appears in the document, and back."""
    document = await (await api_sqlite.client.get("/api/v1/openapi.json")).json()
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    app = api_sqlite.app
    served = {
        (r.method, r.resource.canonical) for r in app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/v1")
        and r.method != "HEAD"
    }
    assert served == documented


async def test_error_and_page_schemas_are_components(api_sqlite: Api) -> None:
    """Responses point at named component schemas, errors at ErrorRead."""
    document = await (await api_sqlite.client.get("/api/v1/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert {"AlertDetail", "AlertRead", "TimelineEventRead", "ErrorRead"} <= set(schemas)
    get_alerts = document["paths"]["/api/v1/alerts"]["get"]
    ref = get_alerts["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/ErrorRead"
