"""State of the fake Twilio: resources, scripted phones, injected failures and awaitable changes."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, TypeVar

KEY_ASKED = re.compile(r"(\d)\s*(?:を|if\b)|[Pp]ress\s+(\d)")  # "1を押して", "9 if", "Press 1"

T = TypeVar("T")
log = logging.getLogger(__name__)
CALL_MODES = ("answer", "no-answer", "busy", "machine", "failed", "ring")  # ring: until hung up
PRESS_MODES = (None, "wait", *"0123456789*#")
SMS_MODES = ("deliver", "undelivered", "failed")


def new_sid(prefix: str) -> str:
    """A Twilio-shaped sid: two letters and 32 hex digits (34 characters)."""
    return prefix + secrets.token_hex(16)


def rfc2822(dt: datetime) -> str:
    """Twilio's date format in API responses and callbacks."""
    return format_datetime(dt.astimezone(UTC))


@dataclass
class PhoneBehaviour:
    """How one scripted phone reacts to calls and messages."""

    call: str = "answer"
    press: str | None = None  # None: no key; "wait": hold at the Gather until pressed
    sms: str = "deliver"

    def update(self, data: dict[str, Any]) -> None:
        """Apply a partial update from the control API; ValueError on an unknown mode."""
        for key, allowed in (("call", CALL_MODES), ("press", PRESS_MODES), ("sms", SMS_MODES)):
            if key in data:
                if data[key] not in allowed:
                    raise ValueError(f"{key} must be one of {allowed}")
                setattr(self, key, data[key])


@dataclass
class FakeMessage:
    """One SMS: outbound via the API, inbound from a phone, or the gateway's TwiML reply."""

    sid: str
    direction: str  # outbound-api, inbound, outbound-reply
    from_: str
    to: str
    body: str
    status: str
    status_callback: str | None = None
    error_code: int | None = None
    finished: bool = False  # the last callback has been delivered
    statuses: list[str] = field(default_factory=list)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    received_at: float = field(default_factory=time.perf_counter)

    def api_json(self, account_sid: str) -> dict[str, Any]:
        """The resource as Twilio's REST API returns it."""
        return {
            "sid": self.sid, "account_sid": account_sid, "api_version": "2010-04-01",
            "body": self.body, "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.created), "date_sent": None,
            "direction": self.direction, "error_code": self.error_code, "error_message": None,
            "from": self.from_, "to": self.to, "messaging_service_sid": None,
            "num_media": "0", "num_segments": str(segments(self.body)), "price": None,
            "price_unit": "USD", "status": self.status, "subresource_uris": {},
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{self.sid}.json",
        }

    def view(self) -> dict[str, Any]:
        """The record as the control API and the phones page show it."""
        data = asdict(self)
        data["from"] = data.pop("from_")
        data["created"] = self.created.isoformat()
        return data


@dataclass
class FakeCall:
    """One outbound call and everything the fake phone heard and pressed."""

    sid: str
    from_: str
    to: str
    status: str
    params: dict[str, list[str]]
    answered_by: str | None = None
    spoken: list[str] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # TwiML returned by Gather actions
    statuses: list[str] = field(default_factory=list)
    waiting: bool = False  # at a Gather, waiting for a manual press
    keys: list[str] = field(default_factory=list)  # the keys the current Gather's prompt mentions
    hung_up: str | None = None  # ended through the API: "canceled" or "completed"
    sequence: int = 0  # SequenceNumber of the next status callback
    finished: bool = False  # the last callback has been delivered
    duration: int = 0
    parent_sid: str | None = None  # a leg a <Dial> placed: the call it is bridged to
    bridged: list[str] = field(default_factory=list)  # legs this call's <Dial>s placed
    dial_status: str | None = None  # a <Dial> leg: DialCallStatus for the parent's action
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    received_at: float = field(default_factory=time.perf_counter)
    press_queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue, repr=False)
    lifecycle: asyncio.Task[None] | None = field(default=None, repr=False)

    def param(self, name: str) -> str | None:
        """First value of a form field of the create request."""
        values = self.params.get(name)
        return values[0] if values else None

    def api_json(self, account_sid: str) -> dict[str, Any]:
        """The resource as Twilio's REST API returns it."""
        return {
            "sid": self.sid, "account_sid": account_sid, "api_version": "2010-04-01",
            "answered_by": self.answered_by, "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.created), "direction": "outbound-api",
            "duration": str(self.duration), "from": self.from_, "to": self.to,
            "parent_call_sid": self.parent_sid, "price": None, "price_unit": "USD",
            "start_time": None, "end_time": None, "status": self.status,
            "subresource_uris": {},
            "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{self.sid}.json",
        }

    def view(self) -> dict[str, Any]:
        """The record as the control API and the phones page show it."""
        keep = ("sid", "to", "status", "answered_by", "spoken", "digits", "replies",
                "statuses", "waiting", "keys", "hung_up", "duration", "received_at", "finished",
                "parent_sid", "bridged")
        data = {k: getattr(self, k) for k in keep}
        data["from"] = self.from_
        data["created"] = self.created.isoformat()
        return data


@dataclass
class Recorded:
    """One request the fake received (API) or sent (callback, webhook)."""

    at: float  # time.perf_counter(), for latency benchmarks
    kind: str  # api, callback, webhook
    method: str
    url: str
    params: dict[str, list[str]]
    status: int | None  # None: could not connect
    response: str = ""
    answered_at: float | None = None  # API requests: when the fake answered (perf_counter)
    dropped: bool = False  # API requests: served, but the answer was lost (connection closed)
    client_port: int | None = None  # API requests: the connection it came on (the client's port)


@dataclass
class FailRule:
    """Make the next `count` API requests (not account reads) fail with `status`, or stall for
    `delay` seconds, or (`hold`) stall until the test releases them: a slow Twilio that does not
    race the test; `drop`: serve them, then close the connection unanswered (Twilio took the
    request, the client never learns it)."""

    status: int | None
    delay: float
    count: int
    code: int | None = None
    retry_after: float | None = None  # seconds, sent as a Retry-After header with `status`
    drop: bool = False
    hold: bool = False


def segments(body: str) -> int:
    """SMS segment count: UCS-2 (70/67 chars) for Japanese, GSM-7 (160/153) for ASCII."""
    single, multi = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


@dataclass
class FakeTwilio:
    """Everything the fake knows; tests await changes with `wait_for` instead of sleeping."""

    account_sid: str
    auth_token: str
    webhook_base: str | None = None
    deliver_base: str | None = None  # deliver callbacks here but sign the original URL (a proxy)
    gateway_number: str = "+815000000000"
    step_delay: float = 0.0
    wait_timeout: float = 120.0
    callback_timeout: float = 10.0
    messages: dict[str, FakeMessage] = field(default_factory=dict)
    calls: dict[str, FakeCall] = field(default_factory=dict)
    phones: dict[str, PhoneBehaviour] = field(default_factory=dict)
    recorded: list[Recorded] = field(default_factory=list)
    fail_rules: list[FailRule] = field(default_factory=list)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)  # ends injected delays
    held: list[asyncio.Event] = field(default_factory=list)  # held requests' releases, oldest first
    _cond: asyncio.Condition = field(default_factory=asyncio.Condition)

    def phone(self, number: str) -> PhoneBehaviour:
        """The scripted behaviour of `number` (created with defaults on first use)."""
        return self.phones.setdefault(number, PhoneBehaviour())

    def api_requests(self, resource: str | None = None) -> list[Recorded]:
        """API requests received, optionally only those to `Messages` or `Calls`."""
        return [
            r for r in self.recorded
            if r.kind == "api" and (resource is None or f"/{resource}" in r.url)
        ]

    def creates(self, resource: str) -> list[Recorded]:
        """Requests that created a message or call (POST to the list); status polls and updates of
        one call (a hang-up posts to `Calls/{sid}.json`) are not counted."""
        return [r for r in self.api_requests(resource)
                if r.method == "POST" and r.url.endswith(f"/{resource}.json")]

    def callbacks(self, url_part: str = "") -> list[Recorded]:
        """Callbacks and webhooks the fake sent whose URL contains `url_part`."""
        return [r for r in self.recorded if r.kind != "api" and url_part in r.url]

    def take_fail_rule(self) -> FailRule | None:
        """Consume one use of the first pending failure rule."""
        if not self.fail_rules:
            return None
        rule = self.fail_rules[0]
        rule.count -= 1
        if rule.count <= 0:
            self.fail_rules.pop(0)
        return rule

    def hold(self) -> asyncio.Event:
        """A new held request's release, set by `release` (or ignored once the fake stops)."""
        gate = asyncio.Event()
        self.held.append(gate)
        return gate

    def release(self, count: int) -> None:
        """Let the `count` oldest held requests be answered; ValueError if fewer are held."""
        if count > len(self.held):
            raise ValueError(f"asked to release {count} request(s), {len(self.held)} held")
        for gate in self.held[:count]:
            gate.set()
        del self.held[:count]

    async def changed(self) -> None:
        """Wake every `wait_for`; call after each change."""
        async with self._cond:
            self._cond.notify_all()

    # A timeout argument on purpose: a forgotten bound would hang a test instead of failing it.
    async def wait_for(
        self, predicate: Callable[[FakeTwilio], T], timeout: float = 5.0  # noqa: ASYNC109
    ) -> T:
        """Wait until `predicate(self)` is truthy and return it; TimeoutError after `timeout`."""
        async with asyncio.timeout(timeout), self._cond:
            return await self._cond.wait_for(lambda: predicate(self))

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a lifecycle task, keeping a reference so it is not garbage-collected."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        # A bug in a lifecycle must show up in the log, not vanish with the task.
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("fake twilio lifecycle failed", exc_info=task.exception())

    async def reset(self) -> None:
        """Forget every resource, phone script and failure rule; stop running lifecycles."""
        await self.cancel_tasks()
        self.messages.clear()
        self.calls.clear()
        self.phones.clear()
        self.recorded.clear()
        self.fail_rules.clear()
        self.held.clear()  # their tasks were cancelled above
        await self.changed()

    async def cancel_tasks(self) -> None:
        """Cancel running lifecycles and wait for them to finish."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def keys_mentioned(prompt: str) -> list[str]:
    """The phone keys a spoken prompt asks for ("1を…9を押して", "Press 1 if …, 9 if …"), in
    order, once each: the phones page offers exactly those (digits of an address are not keys)."""
    text = unicodedata.normalize("NFKC", prompt)
    found = [a or b for a, b in KEY_ASKED.findall(text)]
    return list(dict.fromkeys(found))
