"""Typed aiohttp application state keys shared by web/, api/ and console/.

A bottom module: it imports none of them (nor the gateway), so those packages share state without
importing each other or the composition root.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from aiohttp import web

if TYPE_CHECKING:
    from .services import Services


class Readiness(Protocol):
    """What the health checks ask of the running gateway."""

    @property
    def ready(self) -> bool:
        """True while its tasks run (false before start and once stopping)."""
        ...

    def sia_status(self) -> str | None:
        """The SIA receiver's state when this gateway runs one (docs/devices/sia-dc09.md)."""
        ...


SERVICES: web.AppKey[Services] = web.AppKey("services")
GATEWAY: web.AppKey[Readiness] = web.AppKey("gateway")
