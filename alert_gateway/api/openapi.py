"""The OpenAPI 3.1 document of /api/v1, built from the route table and the pydantic schemas."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from ..validation import MAX_ID
from .routes import Route
from .schemas import NO_NUL, ErrorRead

REF = "#/components/schemas/{model}"
PATH_PARAMS: dict[str, dict[str, Any]] = {
    "alert_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID, "examples": [1]},
    "sweep_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID, "examples": [1]},
    "resident_id": {"type": "string", "pattern": NO_NUL, "examples": ["r-0001"]},
    "device_id": {"type": "string", "pattern": NO_NUL, "examples": ["pendant-r-0001"]},
}
_ERRORS = {
    "400": "The request is not valid; the message says why.",
    "401": "No valid bearer token.",
    "404": "No such record or path.",
    "409": "The record's state does not allow this.",
}


def build_document(routes: Sequence[Route], *, prefix: str, version: str,
                   public_paths: Sequence[str]) -> dict[str, Any]:
    """The whole document; `public_paths` (full paths) need no token."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorRead, "serialization")]
    for route in routes:
        if route.response is not None:
            models.append((route.response, "serialization"))
        if route.body is not None:
            models.append((route.body, "validation"))
    refs, top = models_json_schema(models, ref_template=REF)

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return refs[(model, mode)]

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(prefix + route.path, {})[route.method.lower()] = _operation(route, ref)
    for path in public_paths:
        paths[path] = {"get": {
            "operationId": "openapi", "summary": "This document.", "security": [],
            "responses": {"200": {"description": "The OpenAPI document.",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "alert-gateway API", "version": version,
                 "description": "Alerts, residents, devices and rejected MQTT messages. Every "
                                "request needs 'Authorization: Bearer <token>' "
                                "(`alert-gateway token create NAME`)."},
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _operation(route: Route, ref: Any) -> dict[str, Any]:
    error = {"application/json": {"schema": ref(ErrorRead, "serialization")}}
    success = ({"text/csv": {"schema": {"type": "string"}}} if route.response is None
               else {"application/json": {"schema": ref(route.response, "serialization")}})
    responses: dict[str, Any] = {str(route.status): {"description": "Success.", "content": success}}
    for code, text in _ERRORS.items():
        responses[code] = {"description": text, "content": error}
    operation: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "parameters": [
            *({"name": name, "in": "path", "required": True, "schema": PATH_PARAMS[name]}
              for name in re.findall(r"{(\w+)}", route.path)),
            *({"name": p.name, "in": "query", "required": False, "description": p.description,
               "schema": p.schema} for p in route.query),
        ],
        "responses": responses,
    }
    if route.body is not None:
        operation["requestBody"] = {
            # no body counts as {}: required only where {} is not enough
            "required": any(field.is_required() for field in route.body.model_fields.values()),
            "content": {"application/json": {"schema": ref(route.body, "validation")}},
        }
    return operation
