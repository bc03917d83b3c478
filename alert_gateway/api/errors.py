"""The one place where /api/v1 turns exceptions into JSON errors."""

from __future__ import annotations

import logging
import re

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from ..errors import GatewayError, Unauthorized

log = logging.getLogger(__name__)

_CODES = {400: "invalid_input", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large", 500: "internal"}


def error_response(status: int, message: str, *, code: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    """The JSON error body every /api/v1 failure uses."""
    body = {"error": code or _CODES.get(status, "error"), "message": message}
    return web.json_response(body, status=status, headers=headers)


def describe_validation(exc: ValidationError) -> str:
    """A sentence naming each bad field and what it should be (pydantic lists enum values)."""
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "body"
        problems.append(f"{where}: {error['msg']}")
    return "The request is not valid. " + "; ".join(problems) + "."


def _code_for(exc: GatewayError) -> str:
    # NotFound -> not_found: the class name is the stable, documented code; a finer subclass
    # (validation.BadText) answers with its parent's, so clients see one code per kind.
    kind = next(c for c in type(exc).__mro__ if c.__module__ == GatewayError.__module__)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind.__name__).lower()


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map domain errors, validation errors, unknown routes and crashes to JSON."""
    try:
        return await handler(request)
    except Unauthorized as exc:
        return error_response(401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="api"'})
    except GatewayError as exc:
        status = exc.http_status
        if status >= 500:
            log.exception("gateway error", extra={"path": request.path})
            return error_response(status, "The gateway could not do this; the error is logged.")
        return error_response(status, str(exc), code=_code_for(exc))
    except ValidationError as exc:
        return error_response(400, describe_validation(exc))
    except web.HTTPNotFound:
        return error_response(404, f"There is nothing at {request.path}.")
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        message = f"{request.method} is not allowed on {request.path}; use {allowed}."
        return error_response(405, message, headers={"Allow": allowed})
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "The request body is too large.")
    except web.HTTPException as exc:
        return error_response(exc.status, exc.reason)
    except Exception:
        # Details go to the log only: a stack trace in a response helps attackers, not callers.
        log.exception("unhandled error in API handler", extra={"path": request.path})
        return error_response(500, "Something went wrong in the gateway; the error is logged.")
