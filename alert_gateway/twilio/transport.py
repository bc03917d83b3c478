"""The HTTP client under the official SDK: a configurable base URL, one keep-alive pool, and a
request path that costs no more CPU than it must (issue 11: ~10 % of an alarm storm's CPU).

The SDK builds the request (fields, headers, auth) and parses the answer; this class only sends
it. It replaces the SDK's AsyncTwilioHttpClient, whose request wraps the form in aiohttp's
FormData (a Python pass per field, then urllib's per-byte quoting), builds a BasicAuth and a
deprecation warning per request, and keeps copies of each request for the SDK's own tests.
"""

from __future__ import annotations

import base64
import functools
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import ClientSession, ClientTimeout, TCPConnector
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

log = logging.getLogger(__name__)

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_FORM_BYTE = [chr(b) if b in _UNRESERVED else "+" if b == 0x20 else f"%{b:02X}"
              for b in range(256)]


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


def _quote_form(value: str | bytes, safe: str | bytes = "", encoding: str | None = None,
               errors: str | None = None) -> str:
    """urllib's quote_plus (safe="" only), a table lookup per byte instead of a Python call."""
    raw = value.encode(encoding or "utf-8", errors or "strict") if isinstance(value, str) else value
    return "".join(map(_FORM_BYTE.__getitem__, raw))


def form_body(data: dict[str, object]) -> bytes:
    """The x-www-form-urlencoded body aiohttp's FormData made of the SDK's fields: lists become
    repeated fields (StatusCallbackEvent), bytes for bytes."""
    return urlencode(data, doseq=True, quote_via=_quote_form).encode("ascii")


@functools.lru_cache(maxsize=4)
def basic_authorization(user: str, password: str) -> str:
    """The Authorization header the SDK's (user, password) pair stands for; one account: cached."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class BasedTwilioHttpClient(AsyncHttpClient):
    """Sends the SDK's requests to `base` instead of *.twilio.com, over one pool of connections."""

    def __init__(self, base: str, *, connections: int = 100) -> None:
        super().__init__(log, True, None)
        # Sized to the requests we allow in flight: aiohttp's default of 100 made the rest queue
        # for a connection inside the request timeout (a storm's sends timed out).
        # No aiohttp time limit, as under the SDK's client: ours bound each request (client.py),
        # and a late answer may be awaited longer than aiohttp's 5-minute default (late.py).
        self.session = ClientSession(connector=TCPConnector(limit=connections),
                                     timeout=ClientTimeout())
        self.base = base.rstrip("/")

    async def request(self, method: str, uri: str, params: dict[str, object] | None = None,
                      data: dict[str, object] | None = None,
                      headers: dict[str, str] | None = None,
                      auth: tuple[str, str] | None = None,
                      timeout: float | None = None,  # noqa: ASYNC109 (the SDK's signature)
                      allow_redirects: bool = False) -> Response:
        """Send one request of the SDK's; 429/5xx with a Retry-After raise RetryAfterResponse.

        The SDK logs URLs and form bodies at INFO; they hold phone numbers and alert text, so
        nothing is logged here: the sender logs its own structured events.
        """
        parts = urlsplit(uri)
        url = self.base + parts.path + (f"?{parts.query}" if parts.query else "")
        sent = dict(headers or {})
        if auth is not None:
            sent["Authorization"] = basic_authorization(*auth)
        extra: dict[str, Any] = {} if timeout is None else {"timeout": ClientTimeout(total=timeout)}
        async with self.session.request(method.upper(), url, headers=sent,
                                        params=params,  # type: ignore[arg-type]  # str/int values
                                        data=form_body(data) if data else None,
                                        allow_redirects=allow_redirects, **extra) as answer:
            response = Response(answer.status, await answer.text(), answer.headers)
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if retry_after is not None:
                raise RetryAfterResponse(response.status_code, retry_after)
        return response

    async def close(self) -> None:
        """Close the pool."""
        await self.session.close()
