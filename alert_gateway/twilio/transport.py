"""The SDK's async HTTP client, pointed at a configurable base URL and kept quiet in the logs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientSession, TCPConnector
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response


class RetryAfterResponse(Exception):
    """Twilio refused the request (429 or 5xx) and said when to come back (Retry-After, seconds).

    Raised here because the SDK's own exception drops the response headers.
    """

    def __init__(self, status: int, retry_after: float) -> None:
        super().__init__(f"HTTP {status}, Retry-After {retry_after:g} s")
        self.status = status
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in delay-seconds form; None when absent or an HTTP date (RFC 9110)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


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
        response = await super().request(method, rewritten, *args, **kwargs)
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if retry_after is not None:
                raise RetryAfterResponse(response.status_code, retry_after)
        return response

    # The SDK logs URLs and form bodies at INFO; bodies hold phone numbers and alert text,
    # which must not reach our logs. We log our own structured events instead.
    def log_request(self, kwargs: dict[str, Any]) -> None:
        """Log nothing (see class comment)."""

    def log_response(self, status_code: int, response: Any) -> None:
        """Log nothing (see class comment)."""
