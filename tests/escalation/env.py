"""A gateway with its HTTP server, the fake Twilio on loopback, and a seeded resident with contacts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from sqlmodel import col, select

from alert_gateway.access import tokens
from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import (
    Alert,
    AlertEvent,
    Contact,
    Device,
    Escalation,
    NotificationAttempt,
    Resident,
)
from alert_gateway.gateway import Gateway
from alert_gateway.settings import Settings
from alert_gateway.twilio.fake_server import (
    fake_of,
    make_fake_twilio_app,
    stop_holding,
    stop_posting,
)
from alert_gateway.twilio.fake_state import FakeTwilio
from alert_gateway.web.access_log import AccessLog
from alert_gateway.web.app import make_app, make_runner
from tests.conftest import create_schema
from tests.harness import WAIT_SECONDS, Changes, gateway_settings, running_gateway

T = TypeVar("T")
ACCOUNT_SID = "AC" + "2" * 32
AUTH_TOKEN = "escalation-test-token"
GATEWAY_NUMBER = "+815011112222"
RESIDENT_PHONE = "+81762000001"
DAUGHTER = "+819011110001"
SON = "+819011110002"
CENTRE = "+81762999999"


async def seed(url: str, *, resident_phone: str | None = None, n: int = 1) -> None:
    """Resident r-1..r-n with pendant-1..n, a daughter and a son each (mobiles)."""
    await create_schema(url)
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        for i in range(1, n + 1):
            s.add(Resident(id=f"r-{i}", name="山田 花子" if i == 1 else f"住民 {i}",
                           address="金沢市広坂1-1-1", phone=resident_phone,
                           phone_type="landline"))
        await s.flush()
        for i in range(1, n + 1):
            s.add(Device(id=f"pendant-{i}", resident_id=f"r-{i}"))
            suffix = "" if n == 1 else f"{i:04d}"
            s.add(Contact(resident_id=f"r-{i}", name="山田 京子", relation="family",
                          phone=DAUGHTER if n == 1 else f"+8190222{suffix}", phone_type="mobile",
                          priority=1))
            s.add(Contact(resident_id=f"r-{i}", name="山田 一郎", relation="family",
                          phone=SON if n == 1 else f"+8190333{suffix}", phone_type="mobile",
                          priority=2))
        await s.commit()
    await engine.dispose()


async def seed_shared(url: str, *, n: int, phone: str = DAUGHTER) -> None:
    """Residents r-1..r-n with pendant-1..n whose only contact shares one mobile number."""
    await create_schema(url)
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        for i in range(1, n + 1):
            s.add(Resident(id=f"r-{i}", name="山田 花子" if i == 1 else f"住民 {i}",
                           address="金沢市広坂1-1-1", phone_type="landline"))
        await s.flush()
        for i in range(1, n + 1):
            s.add(Device(id=f"pendant-{i}", resident_id=f"r-{i}"))
            s.add(Contact(resident_id=f"r-{i}", name="山田 京子", relation="family", phone=phone,
                          phone_type="mobile", priority=1))
        await s.commit()
    await engine.dispose()


def policies_file(directory: Path, text: str) -> Path:
    """Write a policies TOML for a test gateway and return its path."""
    path = directory / "policies.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Env:
    """What a story test drives and looks at."""

    gateway: Gateway
    changes: Changes
    fake: FakeTwilio
    fake_url: str
    settings: Settings
    clock: FakeClock
    http: aiohttp.ClientSession

    async def control(self, path: str, data: dict[str, Any] | None = None) -> Any:
        """POST to the fake's control API."""
        return await self.control_at(self.fake_url, path, data)

    async def control_at(self, base: str, path: str, data: dict[str, Any] | None = None) -> Any:
        """POST to a fake's control API at `base` (the fake Twilio's, or another fake's)."""
        async with self.http.post(base + path, json=data or {}) as resp:
            assert resp.status < 300, await resp.text()
            return await resp.json()

    async def reply_sms(self, number: str, body: str) -> list[str]:
        """The phone texts the gateway; returns the gateway's automatic replies."""
        data = await self.control(f"/_fake/phones/{number}/sms", {"body": body})
        return [r["body"] for r in data["replies"]]

    async def rows(self, model: Any, **where: Any) -> list[Any]:
        """Rows of a table, filtered by equality, in id order where there is one."""
        async with self.gateway.services.sessions() as s:
            query = select(model)
            for key, value in where.items():
                query = query.where(col(getattr(model, key)) == value)
            return list((await s.exec(query)).all())

    async def alert(self) -> Alert | None:
        """The one alert of the story (None before it is stored)."""
        alerts = await self.rows(Alert)
        return alerts[0] if alerts else None

    async def escalation(self, alert_id: int) -> Escalation:
        """The alert's escalation row."""
        [row] = await self.rows(Escalation, alert_id=alert_id)
        return row

    async def timeline(self, alert_id: int) -> list[AlertEvent]:
        """The alert's timeline, oldest first."""
        events = await self.rows(AlertEvent, alert_id=alert_id)
        return sorted(events, key=lambda e: e.id)

    async def attempts(self, **where: Any) -> list[NotificationAttempt]:
        """Outbox rows, oldest first."""
        return sorted(await self.rows(NotificationAttempt, **where), key=lambda a: a.id)

    async def until_fake(self, predicate: Callable[[FakeTwilio], T],
                         within: float = WAIT_SECONDS) -> T:
        """The fake's wait_for with the harness bound (its own 5 s default is tight under load);
        on a timeout, what the fake received and posted, with the answers it got (None: not
        delivered)."""
        try:
            return await self.fake.wait_for(predicate, timeout=within)
        except TimeoutError:
            seen = "\n".join(f"  {r.kind} {r.method} {r.url} -> {r.status}"
                             for r in self.fake.recorded[-30:])
            raise AssertionError(f"fake Twilio: not so within {within} s; last requests:\n"
                                 f"{seen}") from None

    async def api_token(self, name: str = "tester") -> str:
        """A REST API token; the API writes its actions as api:<name>."""
        async with self.gateway.services.sessions() as s:
            _, token = await tokens.create(s, name=name, now=self.clock.now())
            await s.commit()
        return token

    async def api_post(self, token: str, path: str, body: Any = None) -> Any:
        """POST to the gateway's REST API with a token; asserts success, returns the JSON."""
        url = self.settings.public_url + "/api/v1" + path
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.post(url, json=body or {}, headers=headers) as resp:
            assert resp.status < 300, await resp.text()
            return await resp.json()

    def sent(self, to: str, resource: str) -> list[Any]:
        """API requests to Twilio for `to` (resource "Messages" or "Calls")."""
        return [r for r in self.fake.api_requests(resource) if r.params.get("To") == [to]]


@asynccontextmanager
async def escalation_env(database_url: str, topic_root: str, clock: FakeClock, *,
                         schema: bool = False, **overrides: Any) -> AsyncIterator[Env]:
    """Fake Twilio + a gateway serving its webhooks on a fixed loopback port."""
    port = unused_port()
    public = f"http://127.0.0.1:{port}"
    app = make_fake_twilio_app(auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID, webhook_base=public)
    fake_server = TestServer(app)
    await fake_server.start_server(access_log_class=AccessLog)  # its constructor drops runner options
    async with fake_server:
        fake_url = str(fake_server.make_url("")).rstrip("/")
        values: dict[str, Any] = {
            "twilio_api_base": fake_url, "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN, "twilio_from_number": GATEWAY_NUMBER,
            "public_url": public, "http_port": port, "dispatch_phone": CENTRE,
            "twilio_timeout_seconds": 5.0,
        }
        values.update(overrides)
        settings = gateway_settings(database_url, topic_root, **values)
        runners: list[web.AppRunner] = []

        async def serve_webhooks(gateway: Gateway) -> None:
            # Listening before the gateway starts, as `serve` does: a restarted gateway sends
            # what fell due at once, and the fake calls back at once (refused: lost, as Twilio's).
            runner = make_runner(make_app(gateway.services, gateway))
            runners.append(runner)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()

        async with running_gateway(settings, clock=clock, schema=schema,
                                   before_start=serve_webhooks) as (gateway, changes):
            try:
                async with aiohttp.ClientSession() as http:
                    yield Env(gateway, changes, fake_of(app), fake_url, settings, clock, http)
            finally:
                # Each client stops before the server it calls: the fake's callbacks before the
                # gateway's webhook server (a connection made while it closes leaked a socket,
                # fake_lifecycle.Network.stop_posting), the gateway's requests before the fake's,
                # which answers what it still holds first (the gateway's stop waits for them).
                await stop_posting(app)
                stop_holding(app)
                for runner in runners:
                    await runner.cleanup()
