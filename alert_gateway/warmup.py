"""Warm-up before the gateway subscribes: the first alarm after a start must not pay for what
every later one finds ready (issue 11: it was the slowest alarm of a run, 80-140 ms against at
most 43 ms for the rest, and on a quiet night it is the only one).

Nothing here is seen by users: no row is written, nothing goes on a timeline, and Twilio only
gets a read of our own account (free, no side effect), which opens the keep-alive connections
the first call and SMS then use. Each part is bounded and may fail: a cold first alarm is
slower, never lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable

from .i18n import LANGUAGES, catalogue
from .ingest.rehearsal import rehearse_alarm
from .preflight import unsafe_settings
from .services import Services
from .wiring import Workers

log = logging.getLogger(__name__)
WARM_UP_SECONDS = 3.0  # a Twilio or database that does not answer holds the start no longer


async def warm_up(services: Services, workers: Workers) -> None:
    """Make ready what the first alarm's path would otherwise build, import or connect."""
    started = time.perf_counter()
    for lang in LANGUAGES:
        catalogue(lang)  # the texts of the first SMS and call, parsed from TOML on first use
    parts: list[tuple[str, Awaitable[None]]] = [("database", rehearse_alarm(
        services.ingest, services.sessions, services.clock,
        max_bytes=services.settings.max_payload_bytes))]
    if may_send(services):
        parts.append(("twilio", workers.dispatcher.sender.warm()))
    await asyncio.gather(*(_bounded(name, part) for name, part in parts))
    log.info("warmed up", extra={"ms": round(1000 * (time.perf_counter() - started))})


def may_send(services: Services) -> bool:
    """Whether this gateway talks to a Twilio: real credentials, or a drill with the fake.
    (A test's gateway has neither, and its requests would go to the real api.twilio.com.)"""
    return services.settings.drill_mode or not unsafe_settings(services.settings)


async def _bounded(name: str, part: Awaitable[None]) -> None:
    try:
        async with asyncio.timeout(WARM_UP_SECONDS):
            await part
    except Exception as exc:  # any failure leaves it cold, nothing worse
        log.warning("warm-up incomplete, the first alarm pays for it",
                    extra={"part": name, "error": type(exc).__name__})
