"""GET/POST /console/handover: the shift handover notes, and the form for the next one."""

from __future__ import annotations

import logging

from aiohttp import web

from ..appkeys import SERVICES
from ..errors import InvalidInput
from . import handover
from .auth import current, safe_next
from .board_data import operator_names
from .inputs import checked_form
from .render import render, translator

log = logging.getLogger(__name__)


async def _page(request: web.Request, *, status: int = 200, error: str | None = None,
                text: str = "") -> web.Response:
    async with request.app[SERVICES].sessions() as session:
        notes = await handover.latest(session)
        now_open = await handover.open_alerts(session)
        names = await operator_names(session)
    arrived = request.query.get("signed_in") == "1"
    return render(request, "handover.html", status=status, notes=notes, now_open=now_open,
                  names=names, error=error, text=text, arrived=arrived,
                  next=safe_next(request.query.get("next")))


async def handover_page(request: web.Request) -> web.Response:
    """GET /console/handover (?signed_in=1&next=: shown right after signing in)."""
    return await _page(request)


async def write_note(request: web.Request) -> web.Response:
    """POST /console/handover: keep a note with the alerts open now."""
    services = request.app[SERVICES]
    operator = current(request)
    form = await checked_form(request)
    text = str(form.get("text", ""))
    try:
        async with services.sessions() as session:
            await handover.write(session, author=operator.name, text=text,
                                 now=services.clock.now())
            await session.commit()
    except InvalidInput:
        return await _page(request, status=400, error=translator(request)("handover.empty"),
                           text=text)
    log.info("handover note written", extra={"operator_id": operator.id})
    raise web.HTTPSeeOther("/console/handover?done=1")


def add_routes(app: web.Application) -> None:
    """Register the handover routes."""
    app.router.add_get("/console/handover", handover_page)
    app.router.add_post("/console/handover", write_note)
