"""State of the fake LINE platform: accounts, their chats, retry keys, injected failures, and
signed webhooks to the gateway. Tests await changes with `wait_for` instead of sleeping."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp

T = TypeVar("T")
log = logging.getLogger(__name__)


def new_user_id() -> str:
    """A LINE-shaped user id: U and 32 hex digits."""
    return "U" + secrets.token_hex(16)


def sign(secret: str, body: bytes) -> str:
    """X-Line-Signature: base64(HMAC-SHA256(channel secret, raw body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class FakeLineMessage:
    """One message in a chat: pushed or replied by the bot, or sent by the person."""

    id: str
    user_id: str
    sender: str  # "bot" (push or reply) or "user"
    kind: str  # push, reply, text, postback
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)  # label, data
    at: float = field(default_factory=time.time)

    def view(self) -> dict[str, Any]:
        """The record as the control API and the page show it."""
        return {"id": self.id, "user_id": self.user_id, "sender": self.sender, "kind": self.kind,
                "text": self.text, "buttons": self.buttons, "at": self.at}


@dataclass
class FakeLineUser:
    """A LINE account; `label` is how the page names it (a contact's name and phone)."""

    user_id: str
    label: str = ""
    following: bool = False


@dataclass
class FakeLine:
    """Everything the fake knows; webhooks go to `webhook_url`, signed with `channel_secret`."""

    channel_secret: str
    access_token: str
    webhook_url: str | None = None
    users: dict[str, FakeLineUser] = field(default_factory=dict)
    messages: list[FakeLineMessage] = field(default_factory=list)
    retry_keys: dict[str, str] = field(default_factory=dict)  # key -> accepted request id
    reply_tokens: dict[str, str] = field(default_factory=dict)  # unused token -> user id
    fail_statuses: list[int] = field(default_factory=list)  # the next API requests answer these
    webhooks: list[tuple[int | None, dict[str, Any]]] = field(default_factory=list)
    session: aiohttp.ClientSession | None = None
    _cond: asyncio.Condition = field(default_factory=asyncio.Condition)

    def user(self, user_id: str) -> FakeLineUser:
        """The account (created on first use)."""
        return self.users.setdefault(user_id, FakeLineUser(user_id))

    def chat(self, user_id: str) -> list[FakeLineMessage]:
        """One account's chat with the bot, oldest first."""
        return [m for m in self.messages if m.user_id == user_id]

    def from_bot(self, user_id: str, kind: str | None = None) -> list[FakeLineMessage]:
        """What the bot sent this account (pushes and replies, or one kind)."""
        return [m for m in self.chat(user_id) if m.sender == "bot" and kind in (None, m.kind)]

    def add_bot_message(self, user_id: str, kind: str, message: dict[str, Any]) -> FakeLineMessage:
        """Store one message object of a push or reply request as the chat shows it."""
        template = message.get("template") or {}
        text = str(message.get("text") or template.get("text") or message.get("altText") or "")
        buttons = [{"label": str(a.get("label", "")), "data": str(a.get("data", ""))}
                   for a in template.get("actions", []) if a.get("type") == "postback"]
        record = FakeLineMessage(str(secrets.randbelow(10**18)), user_id, "bot", kind, text, buttons)
        self.messages.append(record)
        return record

    async def changed(self) -> None:
        """Wake every `wait_for`; call after each change."""
        async with self._cond:
            self._cond.notify_all()

    # A timeout argument on purpose: a forgotten bound would hang a test instead of failing it.
    async def wait_for(self, predicate: Callable[[FakeLine], T],
                       timeout: float = 5.0) -> T:  # noqa: ASYNC109
        """Wait until `predicate(self)` is truthy and return it; TimeoutError after `timeout`."""
        async with asyncio.timeout(timeout), self._cond:
            return await self._cond.wait_for(lambda: predicate(self))

    async def event(self, user_id: str, kind: str, **content: Any) -> list[FakeLineMessage]:
        """The person does something (follow, unfollow, message, postback): a signed webhook
        goes to the gateway; returns the replies it caused."""
        account = self.user(user_id)
        event: dict[str, Any] = {
            "type": kind, "mode": "active", "timestamp": int(time.time() * 1000),
            "webhookEventId": uuid.uuid4().hex.upper()[:26],
            "deliveryContext": {"isRedelivery": False},
            "source": {"type": "user", "userId": user_id}, **content}
        if kind != "unfollow":
            token = secrets.token_hex(16)
            self.reply_tokens[token] = user_id
            event["replyToken"] = token
        account.following = kind != "unfollow"
        before = len(self.messages)
        await self.deliver({"destination": "Ufake", "events": [event]})
        return [m for m in self.messages[before:] if m.sender == "bot" and m.user_id == user_id]

    async def deliver(self, payload: dict[str, Any]) -> int | None:
        """POST a webhook body to the gateway, signed; never raises on network errors."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        status: int | None = None
        if self.webhook_url and self.session is not None:
            try:
                async with asyncio.timeout(10), self.session.post(
                        self.webhook_url, data=body,
                        headers={"Content-Type": "application/json",
                                 "X-Line-Signature": sign(self.channel_secret, body)}) as resp:
                    status = resp.status
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.info("fake LINE could not deliver a webhook: %s", exc)
        self.webhooks.append((status, payload))
        await self.changed()
        return status
