"""The one access-log format: route, ids and status, never a query value or free text from a path.

Searches put names, addresses and phone numbers in query strings (`?q=山田`, `?search=%2B8190…`),
a client may send `?access_token=`, and a path segment can be anything a person typed
(`/console/residents/山田`). So the line names the matched route's template, keeps path and query
values only where they are identifiers, and shows every other value as "[redacted]".

The client address is logged as `remote`, as the sign-in throttle logs it: it belongs to an
operator's browser, an API client or Twilio, not to a resident, and it is what traces abuse.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from ..access import client_address
from ..logs import REDACTED, redact_text
from .twilio_hooks import STATUS_PATHS

# Query parameters whose values are ids, enums, counts or flags (see api/params.py and the
# Twilio callbacks' `attempt`); the value is still logged only if it looks like one.
SAFE_QUERY_KEYS = frozenset(
    {"attempt", "limit", "offset", "status", "type", "severity", "reason", "resident_id",
     "device_id", "alert_id", "active", "online", "all", "month", "done", "lang"}
)
# Placeholders that are credentials: an answer link's token acts for its contact.
SECRET_PATH_KEYS = frozenset({"token"})
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:,\-]{1,40}")


def identifier_or_redacted(value: str) -> str:
    """The value if it is a short ASCII identifier (and not a phone number), else "[redacted]"."""
    if _IDENTIFIER.fullmatch(value) and redact_text(value) == value:
        return value
    return REDACTED


def safe_route(request: BaseRequest) -> str:
    """The matched route's template (`/console/alerts/{alert_id}`), or "[unmatched]" for a 404."""
    match_info = getattr(request, "match_info", None)
    resource = match_info.route.resource if match_info is not None else None
    return resource.canonical if resource is not None else "[unmatched]"


def safe_path_ids(request: BaseRequest) -> dict[str, str]:
    """The route's placeholders with their values where those are identifiers."""
    match_info = getattr(request, "match_info", None)
    if match_info is None:
        return {}
    return {key: REDACTED if key in SECRET_PATH_KEYS else identifier_or_redacted(value)
            for key, value in match_info.items()}


def safe_query(request: BaseRequest) -> dict[str, str]:
    """The query, decoded, as key → value, every value not known to be an identifier redacted."""
    return {
        identifier_or_redacted(key): (
            identifier_or_redacted(value) if key in SAFE_QUERY_KEYS else REDACTED
        )
        for key, value in request.query.items()
    }


class AccessLog(AbstractAccessLogger):
    """One record per request: `GET /console/alerts/{alert_id} 200` plus structured fields."""

    @property
    def enabled(self) -> bool:
        """aiohttp asks once per connection; below INFO it then neither times nor calls `log`."""
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write the request's line; aiohttp calls this after the response is sent."""
        route = safe_route(request)
        if route in STATUS_PATHS and response.status < 300:
            return  # a line costs as much CPU as the callback's signature check (issue 11)
        extra: dict[str, object] = {
            "method": request.method,
            "route": route,
            "status": response.status,
            "bytes": response.body_length,
            "duration_ms": round(time * 1000, 1),
            "remote": client_address.of(request),  # behind a trusted proxy: the client, not the proxy
        }
        if ids := safe_path_ids(request):
            extra["path_ids"] = ids
        if request.query:
            extra["query"] = safe_query(request)
        self.logger.info("%s %s %s", request.method, route, response.status, extra=extra)
