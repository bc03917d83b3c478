"""Typed application state keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from ..gateway import Gateway
    from ..services import Services

SERVICES: web.AppKey[Services] = web.AppKey("services")
GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")
