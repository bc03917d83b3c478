"""Fixtures for the Twilio boundary: the real SDK against the real fake, and a stand-in gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import MultiDictProxy

from alert_gateway.metrics import Metrics
from alert_gateway.settings import Settings
from alert_gateway.twilio.client import TwilioSender
from alert_gateway.twilio.fake_server import fake_of, make_fake_twilio_app
from alert_gateway.twilio.fake_state import FakeTwilio
from alert_gateway.twilio.signature import check_signature
from alert_gateway.twilio.twiml import messaging_reply, reply_twiml

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-token-not-secret"
GATEWAY_NUMBER = "+815011112222"


@dataclass
class Hook:
    """One webhook the stand-in gateway received, with our verdict on its signature."""

    path_qs: str
    params: MultiDictProxy[str]
    signed_ok: bool


@dataclass
class Hooks:
    """The stand-in gateway: checks every signature with check_signature and answers TwiML."""

    settings: Settings | None = None
    received: list[Hook] = field(default_factory=list)

    def at(self, path: str) -> list[Hook]:
        """Hooks received at `path` (query string ignored)."""
        return [h for h in self.received if h.path_qs.split("?")[0] == path]

    def app(self) -> web.Application:
        """Routes like the real gateway's webhooks."""
        app = web.Application()
        app.router.add_post("/twilio/{kind}/{name}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        assert self.settings is not None
        ok = check_signature(self.settings, path_qs=request.rel_url.path_qs, params=form,
                             signature=request.headers.get("X-Twilio-Signature"))
        self.received.append(Hook(request.rel_url.path_qs, form, ok))  # type: ignore[arg-type]
        if request.path == "/twilio/voice/gather":
            pressed_1 = form.get("Digits") == "1"
            text = "対応ありがとうございます。" if pressed_1 else "次の方に連絡します。"
            return _xml(reply_twiml(text, "ja-JP"))
        if request.path == "/twilio/sms/inbound":
            return _xml(messaging_reply("了解しました。" if form.get("Body") == "1" else None))
        return web.Response(status=204)


def _xml(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/xml")


@dataclass
class Env:
    """Everything a Twilio test needs, already running on loopback."""

    fake: FakeTwilio
    fake_url: str
    hooks: Hooks
    hooks_url: str
    settings: Settings
    metrics: Metrics
    sender: TwilioSender


def make_settings(api_base: str, public_url: str, **overrides: object) -> Settings:
    """Settings for one test, built directly (no file, no environment)."""
    values: dict[str, object] = {
        "twilio_api_base": api_base, "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN, "twilio_from_number": GATEWAY_NUMBER,
        "public_url": public_url, "twilio_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def env() -> AsyncIterator[Env]:
    """A stand-in gateway and the fake Twilio posting to it, plus a started TwilioSender."""
    hooks = Hooks()
    async with TestServer(hooks.app()) as hook_server:
        hooks_url = str(hook_server.make_url("")).rstrip("/")
        app = make_fake_twilio_app(auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID,
                                   webhook_base=hooks_url)
        async with TestServer(app) as fake_server:
            fake_url = str(fake_server.make_url("")).rstrip("/")
            settings = make_settings(fake_url, hooks_url)
            hooks.settings = settings
            metrics = Metrics()
            sender = TwilioSender(settings, metrics)
            await sender.start()
            try:
                yield Env(fake_of(app), fake_url, hooks, hooks_url, settings, metrics, sender)
            finally:
                await sender.close()
