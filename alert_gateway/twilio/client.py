"""TwilioSender: our only way out to Twilio; translates SDK and network failures into SendError."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.rest import Client

from ..errors import GatewayError
from ..metrics import Metrics
from ..settings import Settings
from .transport import BasedTwilioHttpClient

log = logging.getLogger(__name__)
T = TypeVar("T")

CHASE_CONNECTIONS = 8  # beyond send_concurrency: status polls of stuck attempts share the pool
CALL_EVENTS = ["ringing", "answered", "completed"]  # "initiated" says no more than the API answer


@dataclass(frozen=True)
class ProviderResult:
    """What Twilio said about a request it accepted (or a resource we fetched)."""

    sid: str
    status: str  # Twilio's status string as returned


class SendError(GatewayError):
    """Twilio did not take the request."""

    http_status = 502


class TransientSendError(SendError):
    """Worth retrying with backoff: 5xx, 429, timeouts, connection failures."""


class PermanentSendError(SendError):
    """Retrying will not help (bad number, bad request): record it and move on."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TwilioSender:
    """Sends SMS and places calls through the official SDK's async client."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._http: BasedTwilioHttpClient | None = None
        self._client: Client | None = None

    async def start(self) -> None:
        """Build the HTTP client; it opens an aiohttp session, so it must run inside the loop."""
        if self._client is not None:
            return
        self._http = BasedTwilioHttpClient(
            self._settings.twilio_api_base,
            connections=self._settings.send_concurrency + CHASE_CONNECTIONS)
        self._client = Client(
            self._settings.twilio_account_sid,
            self._settings.twilio_auth_token.get_secret_value(),
            http_client=self._http,
        )

    async def close(self) -> None:
        """Close the HTTP session; safe to call twice or before start."""
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()

    async def send_sms(self, *, to: str, body: str, status_callback: str) -> ProviderResult:
        """Ask Twilio to send one SMS; status arrives later at `status_callback`."""
        client = self._require()
        msg = await self._call(
            "send_sms",
            lambda: client.messages.create_async(
                to=to,
                from_=self._settings.twilio_from_number,
                body=body,
                status_callback=status_callback,
            ),
        )
        return ProviderResult(sid=str(msg.sid), status=str(msg.status))

    async def place_call(
        self,
        *,
        to: str,
        twiml: str,
        status_callback: str,
        amd_callback: str,
        ring_timeout: int = 25,
    ) -> ProviderResult:
        """Place one call that plays `twiml`, with async answering-machine detection."""
        client = self._require()
        call = await self._call(
            "place_call",
            lambda: client.calls.create_async(
                to=to,
                from_=self._settings.twilio_from_number,
                twiml=twiml,
                status_callback=status_callback,
                status_callback_event=CALL_EVENTS,
                status_callback_method="POST",
                machine_detection="Enable",
                async_amd="true",
                async_amd_status_callback=amd_callback,
                async_amd_status_callback_method="POST",
                timeout=ring_timeout,
            ),
        )
        return ProviderResult(sid=str(call.sid), status=str(call.status))

    async def fetch_status(self, *, sid: str, voice: bool) -> str:
        """Current status of one message or call, for attempts whose callbacks never came."""
        client = self._require()
        if voice:
            call = await self._call("fetch_call", lambda: client.calls(sid).fetch_async())
            return str(call.status)
        msg = await self._call("fetch_sms", lambda: client.messages(sid).fetch_async())
        return str(msg.status)

    async def hang_up(self, *, sid: str) -> str:
        """End a call; returns Twilio's status for it afterwards.

        `canceled` ends a call that is queued or ringing but leaves an answered one alone, so an
        answered call is then `completed` (twilio.com/docs/voice/api/call-resource#update-a-call-resource).
        Asking Twilio, not our last callback, decides which: the call may have been answered since.
        """
        client = self._require()
        call = await self._call("hang_up",
                                lambda: client.calls(sid).update_async(status="canceled"))
        if str(call.status) == "in-progress":
            call = await self._call("hang_up",
                                    lambda: client.calls(sid).update_async(status="completed"))
        return str(call.status)

    def _require(self) -> Client:
        if self._client is None:
            raise RuntimeError("TwilioSender.start() was not awaited")
        return self._client

    async def _call(self, operation: str, make: Callable[[], Awaitable[T]]) -> T:
        """Run one SDK call under our own timeout (the SDK ignores its own) and translate errors."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._settings.twilio_timeout_seconds):
                return await make()
        except TimeoutError as exc:
            raise self._transient(operation, f"{operation}: timed out") from exc
        except (TwilioRestException, TwilioServiceException) as exc:
            raise self._translate(operation, exc) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise self._transient(operation, f"{operation}: {type(exc).__name__}") from exc
        finally:
            self._metrics.twilio_request_seconds.labels(operation=operation).observe(
                time.perf_counter() - started
            )

    def _translate(self, operation: str, exc: Any) -> SendError:
        """5xx and 429 are Twilio's problem and pass; other 4xx are ours and will not."""
        status = int(exc.status)
        code = str(exc.code) if exc.code is not None else None
        message = f"{operation}: HTTP {status}, Twilio code {code}"
        if status >= 500 or status == 429:
            return self._transient(operation, message)
        err = PermanentSendError(message, code=code)
        self._count(operation, "permanent", message)
        return err

    def _transient(self, operation: str, message: str) -> SendError:
        self._count(operation, "transient", message)
        return TransientSendError(message)

    def _count(self, operation: str, kind: str, message: str) -> None:
        self._metrics.twilio_errors.labels(operation=operation, kind=kind).inc()
        log.warning("twilio request failed", extra={"operation": operation, "kind": kind,
                                                     "error": message})
