"""TwilioSender: our only way out to Twilio; translates SDK and network failures into SendError."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.rest import Client

from ..errors import GatewayError
from ..metrics import Metrics
from ..settings import Settings
from .late import LateAnswers
from .quick_retry import NotTakenError, QuickRetry, retry_quickly
from .transport import BasedTwilioHttpClient, RetryAfterResponse

log = logging.getLogger(__name__)
T = TypeVar("T")

CHASE_CONNECTIONS = 8  # beyond send_concurrency: status polls of stuck attempts share the pool
CALL_EVENTS = ["ringing", "answered", "completed"]  # "initiated" says no more than the API answer
LOOKUP_LIMIT = 20  # messages or calls looked at when asking whether a request went out
WARM_CONNECTIONS = 2  # an alarm's first sends go out together: the call and the SMS


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


class RefusedSendError(TransientSendError, NotTakenError):
    """Twilio answered 5xx or 429, or no connection was made: nothing was created."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnknownOutcomeError(TransientSendError):
    """No answer (a timeout, a connection lost mid-request): Twilio may have taken the request."""

    MARK = "outcome unknown"  # kept in the attempt's error, where outbox/timeouts.py looks


class PermanentSendError(SendError):
    """Retrying will not help (bad number, bad request): record it and move on."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TwilioSender:
    """Sends SMS and places calls through the official SDK's async client."""

    def __init__(self, settings: Settings, metrics: Metrics, *,
                 quick_retry: QuickRetry | None = None) -> None:
        self._settings = settings
        self._metrics = metrics
        self._quick_retry = quick_retry or QuickRetry()
        self._http: BasedTwilioHttpClient | None = None
        self._client: Client | None = None
        self._late: LateAnswers[Any] = LateAnswers(settings.twilio_late_answer_seconds)

    async def start(self) -> None:
        """Build the HTTP client; it opens an aiohttp session, so it must run inside the loop."""
        if self._client is not None:
            return
        self._http = BasedTwilioHttpClient(
            self._settings.twilio_api_base,
            # a timed-out create keeps its connection until its late answer: room for as many
            connections=2 * self._settings.send_concurrency + CHASE_CONNECTIONS)
        self._client = Client(
            self._settings.twilio_account_sid,
            self._settings.twilio_auth_token.get_secret_value(),
            http_client=self._http,
        )

    async def warm(self, *, connections: int = WARM_CONNECTIONS) -> None:
        """Ready the first alarm's requests: the SDK imports its API modules on first use (50-150
        ms), and each new connection costs DNS, TCP and TLS to Twilio. Reading our own account is
        free and changes nothing; read at once on several connections, they stay in the pool."""
        await self.start()
        client = self._require()
        _ = client.messages, client.calls  # the SDK imports their modules here
        await asyncio.gather(*(
            self._call("warm_up", lambda: client.api.v2010.account.fetch_async())
            for _ in range(connections)))

    async def close(self) -> None:
        """Close the HTTP session; safe to call twice or before start."""
        await self._late.close()
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()

    async def send_sms(self, *, to: str, body: str, status_callback: str) -> ProviderResult:
        """Ask Twilio to send one SMS; status arrives later at `status_callback`."""
        client = self._require()
        msg = await self._create(
            "send_sms",
            lambda: client.messages.create_async(
                to=to,
                from_=self._settings.twilio_from_number,
                body=body,
                status_callback=status_callback,
            ),
            key=status_callback,
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
        call = await self._create(
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
            key=status_callback,
        )
        return ProviderResult(sid=str(call.sid), status=str(call.status))

    async def place_bridge_call(self, *, to: str, url: str, status_callback: str,
                                ring_timeout: int = 30) -> ProviderResult:
        """Ring the operator's own phone; once answered, Twilio fetches `url` (a <Dial>).

        No answering-machine detection: it holds the line several seconds, and an operator's
        phone that sends a call to voicemail is not worth that wait on every call.
        """
        client = self._require()
        call = await self._create(
            "place_bridge_call",
            lambda: client.calls.create_async(
                to=to,
                from_=self._settings.twilio_from_number,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_event=CALL_EVENTS,
                status_callback_method="POST",
                timeout=ring_timeout,
            ),
            key=status_callback,
        )
        return ProviderResult(sid=str(call.sid), status=str(call.status))

    async def late_answer(self, *, status_callback: str) -> ProviderResult | SendError | None:
        """How a create request with this status callback that timed out ended, awaited while
        Twilio may still answer it (late.py): what Twilio made, or the refusal it answered; None
        when that is unknown (cut off, or not sent by this process since it started)."""
        ended = await self._late.outcome(status_callback)
        if ended is None or isinstance(ended, UnknownOutcomeError):
            return None
        if isinstance(ended, SendError):
            return ended
        if isinstance(ended, BaseException):  # not one of ours: nothing known
            return None
        return ProviderResult(sid=str(ended.sid), status=str(ended.status))

    async def fetch_status(self, *, sid: str, voice: bool) -> str:
        """Current status of one message or call, for attempts whose callbacks never came."""
        client = self._require()
        if voice:
            call = await self._call("fetch_call", lambda: client.calls(sid).fetch_async())
            return str(call.status)
        msg = await self._call("fetch_sms", lambda: client.messages(sid).fetch_async())
        return str(msg.status)

    async def find_sent(self, *, voice: bool, to: str, body: str | None,
                        since: datetime) -> list[ProviderResult]:
        """Messages (with this body) or calls from our number to `to` created since `since`.

        For a request that got no answer: did Twilio take it? Twilio filters by To and From; the
        time and body are matched here, because its DateSent/StartTime filters leave out what is
        still queued (no sent or start time yet), which is exactly what a slow request creates.
        Newest first, from the first page (LOOKUP_LIMIT): a contact gets a few a minute at most.
        """
        client = self._require()
        sender = self._settings.twilio_from_number
        if voice:
            calls = await self._call("find_sent", lambda: client.calls.list_async(
                to=to, from_=sender, limit=LOOKUP_LIMIT))
            found = [(c.sid, c.status, c.date_created) for c in calls]
        else:
            messages = await self._call("find_sent", lambda: client.messages.list_async(
                to=to, from_=sender, limit=LOOKUP_LIMIT))
            found = [(m.sid, m.status, m.date_created) for m in messages if m.body == body]
        return [ProviderResult(sid=str(sid), status=str(status))
                for sid, status, created in found if created is not None and created >= since]

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

    async def _create(self, operation: str, make: Callable[[], Awaitable[T]], *, key: str) -> T:
        """A create request, sent again at once (a few times) while Twilio certainly refused it.
        `key`, its status callback URL: if it times out it runs on under that key (late.py)."""
        return await retry_quickly(self._quick_retry, lambda: self._call(operation, make, key=key))

    async def _call(self, operation: str, make: Callable[[], Awaitable[T]], *,
                    key: str | None = None) -> T:
        """Run one SDK call under our own timeout (the SDK ignores its own), errors translated."""
        started = time.perf_counter()
        timeout = self._settings.twilio_timeout_seconds
        try:
            if key is None:
                async with asyncio.timeout(timeout):
                    return await self._translated(operation, make)
            return await self._late.run(key, self._translated(operation, make),
                                        answer_within=timeout)
        except TimeoutError as exc:
            raise self._unknown(operation, f"{operation}: timed out") from exc
        finally:
            self._metrics.twilio_request_seconds.labels(operation=operation).observe(
                time.perf_counter() - started
            )

    async def _translated(self, operation: str, make: Callable[[], Awaitable[T]]) -> T:
        """One SDK call with its failures as SendErrors."""
        try:
            return await make()
        except TimeoutError as exc:  # the HTTP client's own
            raise self._unknown(operation, f"{operation}: timed out") from exc
        except RetryAfterResponse as exc:
            raise self._refused(operation, f"{operation}: {exc}", exc.retry_after) from exc
        except (TwilioRestException, TwilioServiceException) as exc:
            raise self._translate(operation, int(exc.status), exc.code) from exc
        except TwilioException as exc:  # a list page refused: the SDK passes the bare response
            response = exc.args[1] if len(exc.args) > 1 else None
            raise self._translate(operation, getattr(response, "status_code", 500), None) from exc
        except aiohttp.ClientConnectorError as exc:  # before ClientError: the request never left
            raise self._refused(operation, f"{operation}: {type(exc).__name__}") from exc
        except (aiohttp.ClientError, OSError) as exc:  # a reset or a drop after the request went
            raise self._unknown(operation, f"{operation}: {type(exc).__name__}") from exc

    def _translate(self, operation: str, status: int, twilio_code: Any) -> SendError:
        """5xx and 429 are Twilio's problem and pass; other 4xx are ours and will not."""
        code = str(twilio_code) if twilio_code is not None else None
        message = f"{operation}: HTTP {status}, Twilio code {code}"
        if status >= 500 or status == 429:
            return self._refused(operation, message)
        err = PermanentSendError(message, code=code)
        self._count(operation, "permanent", message)
        return err

    def _refused(self, operation: str, message: str, retry_after: float | None = None) -> SendError:
        self._count(operation, "transient", message)
        return RefusedSendError(message, retry_after=retry_after)

    def _unknown(self, operation: str, message: str) -> SendError:
        self._count(operation, "transient", message)
        return UnknownOutcomeError(f"{message}, {UnknownOutcomeError.MARK}")

    def _count(self, operation: str, kind: str, message: str) -> None:
        self._metrics.twilio_errors.labels(operation=operation, kind=kind).inc()
        log.warning("twilio request failed", extra={"operation": operation, "kind": kind,
                                                     "error": message})
