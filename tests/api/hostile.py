"""A whole gateway app (API, console, webhooks) on one database, seeded, for hostile-input walks.

One app per database; each test sends many requests and collects every 5xx, so a failure lists
all of them at once (method, URL, what was sent, the answer's first characters).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import col, select
from twilio.request_validator import RequestValidator
from yarl import URL

from alert_gateway.access import tokens
from alert_gateway.clock import FakeClock
from alert_gateway.db.residents import Contact
from alert_gateway.services import Services, build_services
from alert_gateway.settings import Settings
from alert_gateway.web.app import make_app

from ..conftest import create_schema
from ..console.conftest import Console, add_accounts
from . import seed

AUTH_TOKEN = "hostile-test-token"
PUBLIC_URL = "http://gw.example.org"  # http: the console's cookies are not Secure in tests
NUL = "a\x00b"
# What a hostile caller tries in place of an id or a number (the databases hold int32 ids).
HOSTILE_NUMBERS = (2**31, 2**63, -1, 10**30)
LONG = "x" * 5000  # beyond every VARCHAR(n) column
HOSTILE_VALUES = (*(str(n) for n in HOSTILE_NUMBERS), "abc", NUL, LONG)
ENCODED_SURROGATE = "%ED%A0%80"  # UTF-8 of U+D800, which no database text can hold


@dataclass
class Edge:
    """The running app, its seeded rows and the 5xx answers collected so far."""

    client: TestClient
    services: Services
    token: str
    alert_id: int
    contact_id: int  # one of r-0001's contacts (the alert's resident)
    other_contact_id: int  # a contact of r-0002
    failures: list[str] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        """Headers that pass the API's token check."""
        return {"Authorization": f"Bearer {self.token}"}

    def console(self) -> Console:
        """The console helper (sign-in, CSRF) on this app."""
        return Console(self.client, self.services, self.client.app)  # type: ignore[arg-type]

    async def note(self, response: ClientResponse, sent: object = None) -> int:
        """Remember a 5xx answer; returns the status."""
        if response.status >= 500:
            text = (await response.text())[:300]
            self.failures.append(f"{response.method} {response.url} sent={sent!r} -> "
                                 f"{response.status} {text}")
        else:
            await response.read()
        return response.status


def url(path: str, query: Mapping[str, str] | None = None) -> URL:
    """A URL whose path and query are sent exactly as given (values percent-encoded here)."""
    qs = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in (query or {}).items())
    return URL(path + (f"?{qs}" if qs else ""), encoded=True)


def encoded_path(value: str) -> str:
    """One path segment, percent-encoded."""
    return quote(value, safe="")


def form_body(fields: Mapping[str, str], *, raw: str = "") -> tuple[str, dict[str, str]]:
    """A urlencoded body (plus `raw`, already encoded) and its content type."""
    body = urlencode(fields) + (f"&{raw}" if raw else "")
    return body, {"Content-Type": "application/x-www-form-urlencoded"}


def twilio_signature(path_qs: str, params: Mapping[str, str]) -> str:
    """The X-Twilio-Signature Twilio would send for this URL and form."""
    validator = RequestValidator(AUTH_TOKEN)
    return str(validator.compute_signature(PUBLIC_URL + path_qs, dict(params)))


@asynccontextmanager
async def edge_app(database_url: str, clock: FakeClock) -> AsyncIterator[Edge]:
    """Schema, two residents (r-0001 with an open alert), an API token, console accounts."""
    await create_schema(database_url)
    settings = Settings(database_url=database_url, twilio_auth_token=AUTH_TOKEN,  # type: ignore[arg-type]
                        public_url=PUBLIC_URL)
    services = build_services(settings, clock=clock)
    try:
        await seed.resident(services.sessions, clock, "r-0001")
        await seed.resident(services.sessions, clock, "r-0002")
        alert_id = await seed.alert(services.sessions, clock)
        async with services.sessions() as session:
            _, token = await tokens.create(session, name="hostile", now=clock.now())
            contacts = (await session.exec(select(Contact).order_by(col(Contact.id)))).all()
            await session.commit()
        await add_accounts(services)
        mine = next(c.id for c in contacts if c.resident_id == "r-0001")
        theirs = next(c.id for c in contacts if c.resident_id == "r-0002")
        assert mine is not None and theirs is not None
        async with TestClient(TestServer(make_app(services))) as client:
            yield Edge(client, services, token, alert_id, mine, theirs)
    finally:
        await services.close()

