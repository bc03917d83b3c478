"""The console app on a real port, so the fake Twilio can post its signed callbacks to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, unused_port
from sqlmodel import col, select

from alert_gateway.clock import FakeClock
from alert_gateway.db.auth import Operator
from alert_gateway.services import Services, build_services
from alert_gateway.settings import Settings
from alert_gateway.twilio.fake_server import fake_of, make_fake_twilio_app
from alert_gateway.twilio.fake_state import FakeCall, FakeTwilio
from alert_gateway.web.app import make_app

from ..conftest import create_schema
from .conftest import OPERATOR, Console, add_accounts
from .factories import add_alert, add_resident

ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "click-to-call-token"
CENTRE_NUMBER = "+815011119999"  # the Twilio number: the callee sees it as the caller id
OPERATOR_PHONE = "+819055556666"


@dataclass
class Calling:
    """A signed-in-able console, the fake Twilio behind it and one open alert."""

    console: Console
    fake: FakeTwilio
    alert_id: int
    base: str  # the console's URL
    fake_base: str  # the fake Twilio's URL (its phones page is at /)
    signed_in: dict[str, str] = field(default_factory=dict)  # name -> CSRF token

    async def csrf(self, name: str = OPERATOR) -> str:
        """Sign in as `name` unless already (a sign-in costs an argon2 check)."""
        if name not in self.signed_in:
            self.signed_in = {name: await self.console.sign_in(name)}
        return self.signed_in[name]

    async def set_phone(self, name: str, phone: str | None) -> None:
        """Give an operator's account a phone, as a supervisor would."""
        async with self.console.services.sessions() as session:
            operator = (await session.exec(
                select(Operator).where(col(Operator.name) == name))).one()
            operator.phone = phone
            await session.commit()

    async def bridge_of(self, operator_phone: str = OPERATOR_PHONE) -> tuple[FakeCall, FakeCall | None]:
        """The finished call to the operator's phone and the leg its <Dial> placed, if any."""
        def done(fake: FakeTwilio) -> FakeCall | None:
            return next((c for c in fake.calls.values()
                         if c.to == operator_phone and c.finished), None)
        parent = await self.fake.wait_for(done)
        leg = self.fake.calls.get(parent.bridged[0]) if parent.bridged else None
        return parent, leg

    async def timeline(self) -> str:
        """The alert page as the operator sees it."""
        response = await self.console.client.get(f"/console/alerts/{self.alert_id}",
                                                 headers={"Accept": "text/html"})
        return await response.text()


@asynccontextmanager
async def calling(url: str, **overrides: Any) -> AsyncIterator[Calling]:
    """Fake Twilio and the console, each on loopback, a resident with contacts and an alert."""
    await create_schema(url)
    fake_app = make_fake_twilio_app(auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID)
    async with TestServer(fake_app) as twilio_server:
        port = unused_port()
        base = f"http://127.0.0.1:{port}"
        settings = Settings(database_url=url, public_url=base, twilio_account_sid=ACCOUNT_SID,
                            twilio_auth_token=AUTH_TOKEN, twilio_from_number=CENTRE_NUMBER,
                            twilio_api_base=str(twilio_server.make_url("")).rstrip("/"),
                            **overrides)
        services: Services = build_services(settings, clock=FakeClock())
        await add_accounts(services)
        await add_resident(services)
        alert_id = await add_alert(services)
        app: web.Application = make_app(services)
        client = TestClient(TestServer(app, host="127.0.0.1", port=port))
        await client.start_server()
        try:
            yield Calling(Console(client, services, app), fake_of(fake_app), alert_id, base,
                          settings.twilio_api_base)
        finally:
            await client.close()
            await services.close()
