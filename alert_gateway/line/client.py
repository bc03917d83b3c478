"""LineSender: our only way out to LINE, through the official SDK's async client.

Pointed at `line_api_base` (the project's fake in tests and the demo). Errors become the
outbox's SendErrors, so LINE pushes get the same backoff and retry bound as Twilio requests.
Each push carries a retry key derived from its attempt (X-Line-Retry-Key): when a request got no
answer and the outbox sends it again, LINE answers 409 instead of delivering it twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import aiohttp

from ..metrics import Metrics
from ..outbox.ratelimit import TokenBucket
from ..settings import Settings
from ..twilio.client import PermanentSendError, ProviderResult, SendError, TransientSendError
from .messages import recipient

if TYPE_CHECKING:
    from .sdk import LineApi

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_KEYS = uuid.UUID("6f1c3a52-0c1e-4d5b-9a59-2f4f7d1e0b6a")  # namespace of our retry keys
SID_PREFIX = "line:"  # provider_sid of a LINE push: never mistaken for a Twilio sid


def retry_key(attempt_id: int, created_at: datetime) -> str:
    """The same key for every request of one attempt (LINE keeps them for 24 hours)."""
    return str(uuid.uuid5(RETRY_KEYS, f"{attempt_id}:{created_at.isoformat()}"))


def _line_api() -> type[LineApi]:
    from .sdk import LineApi

    return LineApi


class LineRefused(Exception):
    """LINE answered a request with an error status (sdk.py turns the SDK's exception into it)."""

    def __init__(self, status: int, accepted_request_id: str | None) -> None:
        super().__init__(status)
        self.status = status
        self.accepted_request_id = accepted_request_id


class LineSender:
    """Pushes alert messages and sends replies; does nothing until both LINE secrets are set."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._bucket = TokenBucket(settings.line_send_rate_per_second)
        # The SDK only where LINE is on (sdk.py), imported while the gateway is built: its 1.6 s
        # never holds the event loop once alarms are being read.
        self._sdk: type[LineApi] | None = (
            _line_api() if settings.line_channel_access_token is not None else None)
        self._api: LineApi | None = None

    async def start(self) -> None:
        """Open the SDK's HTTP session (inside the running loop); a no-op when LINE is off."""
        token = self._settings.line_channel_access_token
        if self._api is not None or token is None or self._sdk is None:
            return
        self._api = self._sdk(self._settings.line_api_base.rstrip("/"), token.get_secret_value(),
                              request_timeout=self._settings.line_timeout_seconds)

    async def close(self) -> None:
        """Close the HTTP session; safe to call twice or before start."""
        api, self._api = self._api, None
        if api is not None:
            await api.close()

    async def push(self, *, attempt_id: int, created_at: datetime, body: str | None) -> ProviderResult:
        """Push one outbox row's alert or sweep message (with its buttons) to the linked account
        it names."""
        api = self._api
        to = recipient(body)
        if api is None:
            raise PermanentSendError("LINE is not configured", code="line_off")
        if not to:
            raise PermanentSendError("no LINE account to push to", code="line_unlinked")
        await self._bucket.take()
        try:
            sent = await self._call("push", lambda: api.push(
                to=to, body=body, attempt_id=attempt_id, retry_key=retry_key(attempt_id, created_at)))
        except _AlreadyAccepted as done:  # an earlier request of this attempt got through
            return ProviderResult(sid=SID_PREFIX + done.request_id, status="sent")
        return ProviderResult(sid=SID_PREFIX + (sent or str(attempt_id)), status="sent")

    async def reply(self, *, reply_token: str, texts: list[str]) -> None:
        """Answer a webhook event (free of the push quota); a failure is logged, not raised:
        the answer itself is already applied."""
        api = self._api
        if api is None or not texts:
            return
        try:
            await self._call("reply", lambda: api.reply(reply_token=reply_token, texts=texts))
        except SendError:
            return  # counted and logged by _call

    async def _call(self, operation: str, make: Callable[[], Awaitable[T]]) -> T:
        """One SDK call under our timeout; LINE's and the network's errors become SendErrors."""
        try:
            async with asyncio.timeout(self._settings.line_timeout_seconds):
                return await make()
        except LineRefused as exc:
            if exc.status == 409 and exc.accepted_request_id:
                raise _AlreadyAccepted(exc.accepted_request_id) from exc
            kind = "transient" if exc.status == 429 or exc.status >= 500 else "permanent"
            message = f"line {operation}: HTTP {exc.status}"
            self._count(operation, kind, message)
            if kind == "transient":
                raise TransientSendError(message) from exc
            raise PermanentSendError(message, code=f"line_{exc.status}") from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            message = f"line {operation}: {type(exc).__name__}"
            self._count(operation, "transient", message)
            raise TransientSendError(message) from exc

    def _count(self, operation: str, kind: str, message: str) -> None:
        self._metrics.line_errors.labels(operation=operation, kind=kind).inc()
        log.warning("line request failed", extra={"operation": operation, "kind": kind,
                                                   "error": message})


class _AlreadyAccepted(Exception):
    """LINE's 409 for a retry key it has seen: the message went out with that request."""

    def __init__(self, request_id: str) -> None:
        super().__init__(request_id)
        self.request_id = request_id
