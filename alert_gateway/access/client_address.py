"""The client's address: from X-Forwarded-For when the peer is a trusted reverse proxy.

Written here rather than taken from aiohttp-remotes: its strict mode answers 400 to any request
whose peer is not a listed proxy (Prometheus scraping a replica directly, a load balancer's
health check) and needs the exact number of hops, while its relaxed mode believes any peer. We
want the usual rule (as nginx's real_ip_recursive and werkzeug's ProxyFix apply it): walk the
header from the right while the hops are our proxies; the first other hop is the client. From a
peer that is not a trusted proxy the header is ignored, since anyone can send it.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

# Also set on the request aiohttp itself keeps (its access logger is handed that one, not our
# clone), so a logger can name the client too.
CLIENT_ADDRESS: web.RequestKey[str] = web.RequestKey("client_address")


def of(request: web.BaseRequest) -> str:
    """The client's address as the middleware found it ("unknown" for a socket without one)."""
    return request.get(CLIENT_ADDRESS) or request.remote or "unknown"


def _parse(text: str) -> Address | None:
    try:
        found = ip_address(text.strip())
    except ValueError:
        return None
    # A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
    return found.ipv4_mapped or found if isinstance(found, IPv6Address) else found


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def client_address(peer: str | None, forwarded_for: Sequence[str],
                   proxies: Sequence[Network]) -> str | None:
    """The client's address given the peer, the X-Forwarded-For headers and the trusted proxies."""
    current = _parse(peer) if peer else None
    if current is None or not _trusted(current, proxies):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break  # garbage from further out: the last proxy we trust is all we know
        current = address
        if not _trusted(address, proxies):
            break
    return str(current)


def middleware(proxies: Sequence[Network]) -> Middleware:
    """A middleware that sets `request.remote` to the client's address for everything after it."""

    @web.middleware
    async def use_client_address(request: web.Request, handler: Handler) -> web.StreamResponse:
        found = request.remote
        if proxies:
            found = client_address(request.remote, request.headers.getall(hdrs.X_FORWARDED_FOR, []),
                                   proxies)
        if found:
            request[CLIENT_ADDRESS] = found  # before clone(): the clone copies the state
            if found != request.remote:
                request = request.clone(remote=found)
        return await handler(request)

    return use_client_address
