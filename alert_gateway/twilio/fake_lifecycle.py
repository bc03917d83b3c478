"""The fake's phone network: drives messages and calls, posting signed callbacks."""

from __future__ import annotations

import asyncio
import logging
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import aiohttp
from twilio.request_validator import RequestValidator

from .fake_dial import dial
from .fake_state import (
    FakeCall,
    FakeMessage,
    FakeTwilio,
    Recorded,
    keys_mentioned,
    new_sid,
    rfc2822,
    segments,
)

log = logging.getLogger(__name__)
API_VERSION = "2010-04-01"
SMS_ERRORS = {"undelivered": 30003, "failed": 30008}  # unreachable handset, unknown error
SIP_CODES = {"busy": "486", "no-answer": "487", "failed": "500"}


class Network:
    """Posts to the gateway's webhooks on behalf of Twilio, with the HTTP session it owns."""

    def __init__(self, fake: FakeTwilio) -> None:
        self.fake = fake
        self.session: aiohttp.ClientSession | None = None
        self._stopped = False
        self._posting = 0
        self._quiet = asyncio.Event()  # no post under way
        self._quiet.set()

    async def start(self) -> None:
        """Open the outgoing HTTP session (inside the running loop)."""
        self.session = aiohttp.ClientSession()

    async def close(self) -> None:
        """Stop lifecycles and close the session."""
        await self.fake.cancel_tasks()
        if self.session is not None:
            await self.session.close()

    async def stop_posting(self) -> None:
        """Post nothing more, and return once the posts under way are answered (or failed).

        For whoever stops the gateway's server next: a connection being made while an asyncio
        server closes leaks its socket on Python 3.11 (accepted, then never attached to the
        closed server: python/cpython#109564), or holds aiohttp's shutdown until the client
        gives up. Lifecycles go on (their later posts are skipped) until `close`.
        """
        self._stopped = True
        await self._quiet.wait()

    async def post(self, kind: str, url: str, params: dict[str, str]) -> tuple[int | None, str]:
        """POST form params to `url`, signed like Twilio; never raises on network errors.
        After `stop_posting`, nothing is sent or recorded: (None, "")."""
        if self._stopped:
            log.debug("fake twilio stopped posting: %s to %s not sent", kind, url)
            return None, ""
        self._posting += 1
        self._quiet.clear()
        try:
            return await self._post(kind, url, params)
        finally:
            self._posting -= 1
            if not self._posting:
                self._quiet.set()

    async def _post(self, kind: str, url: str, params: dict[str, str]) -> tuple[int | None, str]:
        signature = RequestValidator(self.fake.auth_token).compute_signature(url, params)
        target = url
        if self.fake.deliver_base:
            parts = urlsplit(url)
            target = self.fake.deliver_base.rstrip("/") + parts.path
            target += f"?{parts.query}" if parts.query else ""
        status: int | None = None
        text = ""
        assert self.session is not None, "Network.start() was not awaited"
        try:
            async with (
                asyncio.timeout(self.fake.callback_timeout),
                self.session.post(
                    target, data=params, headers={"X-Twilio-Signature": signature}
                ) as resp,
            ):
                status, text = resp.status, await resp.text()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("fake twilio could not deliver %s to %s: %s", kind, url, exc)
        self.fake.recorded.append(
            Recorded(time.perf_counter(), kind, "POST", url, {k: [v] for k, v in params.items()},
                     status, text)
        )
        await self.fake.changed()
        return status, text

    async def step(self) -> None:
        """Let the loop run; pause `step_delay` only when a demo asks for it."""
        await asyncio.sleep(self.fake.step_delay)

    # --- SMS ---

    async def run_message(self, msg: FakeMessage) -> None:
        """queued → sent → delivered, or the failure this phone is scripted for."""
        try:
            await self._message_lifecycle(msg)
        finally:
            msg.finished = True
            await self.fake.changed()

    async def _message_lifecycle(self, msg: FakeMessage) -> None:
        mode = self.fake.phone(msg.to).sms
        path = {"deliver": ["sent", "delivered"], "undelivered": ["sent", "undelivered"],
                "failed": ["failed"]}[mode]
        await self._message_status(msg, "queued")
        for status in path:
            await self.step()
            if status in SMS_ERRORS:
                msg.error_code = SMS_ERRORS[status]
            await self._message_status(msg, status)

    async def _message_status(self, msg: FakeMessage, status: str) -> None:
        msg.status = status
        msg.statuses.append(status)
        await self.fake.changed()
        if not msg.status_callback:
            return
        params = {
            "MessageSid": msg.sid, "MessageStatus": status, "SmsSid": msg.sid,
            "SmsStatus": status, "AccountSid": self.fake.account_sid, "From": msg.from_,
            "To": msg.to, "ApiVersion": API_VERSION,
        }
        if msg.error_code is not None:
            params["ErrorCode"] = str(msg.error_code)
        await self.post("callback", msg.status_callback, params)

    async def inbound_sms(self, from_: str, body: str) -> FakeMessage:
        """A phone texts the gateway; the TwiML reply becomes messages shown on that phone."""
        if not self.fake.webhook_base:
            raise LookupError("the fake has no webhook_base, so it cannot deliver inbound SMS")
        to = self._gateway_number_for(from_)
        msg = FakeMessage(new_sid("SM"), "inbound", from_, to, body, "received")
        msg.statuses.append("received")
        self.fake.messages[msg.sid] = msg
        params = {
            "MessageSid": msg.sid, "SmsSid": msg.sid, "SmsMessageSid": msg.sid,
            "AccountSid": self.fake.account_sid, "From": from_, "To": to, "Body": body,
            "NumMedia": "0", "NumSegments": str(segments(body)), "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }
        url = self.fake.webhook_base.rstrip("/") + "/twilio/sms/inbound"
        _, reply = await self.post("webhook", url, params)
        for text in _texts(reply, "Message"):
            out = FakeMessage(new_sid("SM"), "outbound-reply", to, from_, text, "delivered")
            out.statuses.append("delivered")
            self.fake.messages[out.sid] = out
        await self.fake.changed()
        return msg

    def _gateway_number_for(self, phone: str) -> str:
        """Reply to the number that last texted or called this phone, as a handset would."""
        for msg in reversed(self.fake.messages.values()):
            if msg.to == phone and msg.direction != "inbound":
                return msg.from_
        return self.fake.gateway_number

    # --- calls ---

    async def run_call(self, call: FakeCall) -> None:
        """initiated → ringing → the scripted outcome; an answered call plays its TwiML.

        Hung up through the API (`hang_up`), it stops wherever it was and reports how it ended.
        """
        try:
            try:
                await self._call_lifecycle(call)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if call.hung_up is None or task is None:
                    raise  # shutdown or reset
                task.uncancel()
                await self.call_status(call, "completed", call.hung_up)
        finally:
            call.finished = True
            await self.fake.changed()

    def hang_up(self, call: FakeCall, status: str) -> None:
        """End a live call now, as the REST API's Status=canceled|completed does."""
        call.hung_up = call.status = status
        if call.lifecycle is not None:
            call.lifecycle.cancel()

    async def _call_lifecycle(self, call: FakeCall) -> None:
        mode = self.fake.phone(call.to).call
        started = time.monotonic()
        for status in ("initiated", "ringing"):
            await self.step()
            await self.call_status(call, status, status)
        if mode == "ring":  # nobody picks up: it rings until hung up, or until Twilio gives up
            await asyncio.sleep(self.fake.wait_timeout)
            await self.call_status(call, "completed", "no-answer")
            return
        await self.step()
        if mode in SIP_CODES:
            await self.call_status(call, "completed", mode)
            return
        await self.call_status(call, "answered", "in-progress")
        call.answered_by = "human" if mode == "answer" else "machine_start"
        amd_url = call.param("AsyncAmdStatusCallback")
        if call.param("MachineDetection") and amd_url:
            await self.post("callback", amd_url, {
                "CallSid": call.sid, "AccountSid": self.fake.account_sid,
                "AnsweredBy": call.answered_by, "MachineDetectionDuration": "1200",
            })
        twiml = call.param("Twiml") or await self._fetch_twiml(call)
        await self._play(call, twiml, human=mode == "answer", depth=0)
        call.duration = max(1, round(time.monotonic() - started))
        await self.call_status(call, "completed", "completed")

    async def _fetch_twiml(self, call: FakeCall) -> str:
        url = call.param("Url")
        if not url:
            return "<Response/>"
        _, text = await self.post("webhook", url, self.call_params(call, "in-progress"))
        return text

    async def _play(self, call: FakeCall, twiml: str, *, human: bool, depth: int) -> None:
        """Run Say/Gather/Hangup like a handset; a keypress continues with the action's TwiML."""
        root = _parse(twiml)
        for verb in root if root is not None else []:
            if verb.tag == "Hangup":
                return
            if verb.tag == "Say":
                call.spoken.append(verb.text or "")
            elif verb.tag == "Dial":
                reply = await dial(self, call, verb)
                if reply is not None:
                    await self._play(call, reply, human=human, depth=depth + 1)
                    return
            elif verb.tag == "Gather":
                prompt = [s.text or "" for s in verb.iter("Say")]
                call.spoken.extend(prompt)
                call.keys = keys_mentioned(" ".join(prompt))
                await self.fake.changed()
                digits = await self._digits(call) if human else None
                if digits is not None and verb.get("action") and depth < 3:
                    reply = await self._press(call, verb.get("action", ""), digits)
                    await self._play(call, reply, human=human, depth=depth + 1)
                    return
        await self.fake.changed()

    async def _digits(self, call: FakeCall) -> str | None:
        """The scripted key, or a manual press within `wait_timeout`, or None (no input)."""
        press = self.fake.phone(call.to).press
        if press != "wait":
            return press
        call.waiting = True
        await self.fake.changed()
        try:
            async with asyncio.timeout(self.fake.wait_timeout):
                return await call.press_queue.get()
        except TimeoutError:
            return None
        finally:
            call.waiting = False
            await self.fake.changed()

    async def _press(self, call: FakeCall, action: str, digits: str) -> str:
        call.digits.append(digits)
        base = call.param("Url") or self.fake.webhook_base or call.param("StatusCallback") or ""
        params = self.call_params(call, "in-progress")
        params.update({"Digits": digits, "FinishedOnKey": "", "msg": "Gather End"})
        _, reply = await self.post("webhook", urljoin(base, action), params)
        call.replies.append(reply)
        return reply

    def call_params(self, call: FakeCall, status: str) -> dict[str, str]:
        """The parameters Twilio posts about a call to its webhooks."""
        params = {
            "CallSid": call.sid, "AccountSid": self.fake.account_sid, "From": call.from_,
            "To": call.to, "Called": call.to, "Caller": call.from_, "CallStatus": status,
            "Direction": "outbound-api", "ApiVersion": API_VERSION,
        }
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        return params

    async def call_status(self, call: FakeCall, event: str, status: str) -> None:
        """Move the call to `status`; post its status callback when one was asked for."""
        call.status = status
        call.statuses.append(status)
        await self.fake.changed()
        url = call.param("StatusCallback")
        # Twilio always reports "completed"; other events only when asked for.
        wanted = call.params.get("StatusCallbackEvent") or ["completed"]
        if not url or (event != "completed" and event not in wanted):
            return
        params = self.call_params(call, status)
        params.update({
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(call.sequence),
            "Timestamp": rfc2822(datetime.now(UTC)),
        })
        if event == "completed":
            params["CallDuration"] = str(call.duration)
            params["Duration"] = str(-(-call.duration // 60))
            if status in SIP_CODES:
                params["SipResponseCode"] = SIP_CODES[status]
        call.sequence += 1
        await self.post("callback", url, params)


def _parse(twiml: str) -> ET.Element | None:
    try:
        return ET.fromstring(twiml.encode("utf-8"))
    except ET.ParseError:
        return None


def _texts(twiml: str, tag: str) -> list[str]:
    """Texts of every `tag` element (e.g. each <Message> of a messaging reply)."""
    root = _parse(twiml)
    return [] if root is None else [el.text or "" for el in root.iter(tag)]
