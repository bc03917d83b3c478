"""The client address behind trusted proxies: X-Forwarded-For believed only from them."""

from __future__ import annotations

import logging
from ipaddress import ip_network
from typing import ClassVar

import pytest
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.test_utils import TestClient, TestServer

from alert_gateway.access.client_address import client_address, middleware, of

PROXIES = (ip_network("10.0.0.0/8"), ip_network("127.0.0.1"))


@pytest.mark.parametrize(("peer", "headers", "expected"), [
    # No proxies configured elsewhere; here the peer is not one of ours: header ignored.
    ("198.51.100.7", ["203.0.113.9"], "198.51.100.7"),
    # Our proxy forwards a client.
    ("10.0.0.2", ["203.0.113.9"], "203.0.113.9"),
    # The client forged a first hop; our proxy appended the real one: the real one counts.
    ("10.0.0.2", ["1.2.3.4, 203.0.113.9"], "203.0.113.9"),
    # Two of our proxies in a row (load balancer, then nginx), headers split over two lines.
    ("127.0.0.1", ["203.0.113.9, 10.1.2.3", "10.0.0.5"], "203.0.113.9"),
    # A proxy without the header: the proxy is all we know.
    ("10.0.0.2", [], "10.0.0.2"),
    # Garbage from further out stops the walk at the last hop we trust.
    ("10.0.0.2", ["not-an-ip, 10.0.0.9"], "10.0.0.9"),
    # A dual-stack listener reports IPv4 peers mapped into IPv6.
    ("::ffff:10.0.0.2", ["2001:db8::7"], "2001:db8::7"),
])
def test_client_address(peer: str, headers: list[str], expected: str) -> None:
    """The first hop from the right that is not a trusted proxy is the client."""
    assert client_address(peer, headers, PROXIES) == expected


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    """With no proxies configured nothing a client sends changes its address."""
    assert client_address("127.0.0.1", ["203.0.113.9"], ()) == "127.0.0.1"


class _Recorder(AbstractAccessLogger):
    """An access logger that keeps the client address it is given."""

    seen: ClassVar[list[str]] = []

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Record what an access log line would name as the client."""
        self.seen.append(of(request))


async def test_access_logger_sees_the_client_behind_the_proxy() -> None:
    """aiohttp hands its access logger the original request; it still names the client."""
    app = web.Application()
    app.middlewares.append(middleware(PROXIES))
    app.router.add_get("/", _answer)
    _Recorder.seen = []
    server = TestServer(app)
    await server.start_server(access_log_class=_Recorder, access_log=logging.getLogger("test"))
    async with TestClient(server) as client:
        response = await client.get("/", headers={"X-Forwarded-For": "203.0.113.9"})
        assert await response.text() == "203.0.113.9"
    assert _Recorder.seen == ["203.0.113.9"]


async def _answer(request: web.Request) -> web.Response:
    return web.Response(text=request.remote or "")
