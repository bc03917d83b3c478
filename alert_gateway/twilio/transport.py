"""The SDK's async HTTP client, pointed at a configurable base URL and kept quiet in the logs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientSession, TCPConnector
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response


class BasedTwilioHttpClient(AsyncTwilioHttpClient):
    """Rewrites every URL's scheme and host to `base`, so one setting covers every Twilio domain."""

    def __init__(self, base: str, *, connections: int = 100, **kwargs: Any) -> None:
        super().__init__(pool_connections=False, **kwargs)
        # Our own pool, sized to the requests we allow in flight: aiohttp's default of 100 made the
        # rest queue for a connection inside the request timeout (a storm's sends timed out).
        self.session = ClientSession(connector=TCPConnector(limit=connections))
        self.base = base.rstrip("/")

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        """Send the request to the configured base instead of *.twilio.com."""
        parts = urlsplit(url)
        rewritten = self.base + parts.path + (f"?{parts.query}" if parts.query else "")
        return await super().request(method, rewritten, *args, **kwargs)

    # The SDK logs URLs and form bodies at INFO; bodies hold phone numbers and alert text,
    # which must not reach our logs. We log our own structured events instead.
    def log_request(self, kwargs: dict[str, Any]) -> None:
        """Log nothing (see class comment)."""

    def log_response(self, status_code: int, response: Any) -> None:
        """Log nothing (see class comment)."""
