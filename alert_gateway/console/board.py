"""The live board page, its rows fragment (re-read on every change) and its JSON form."""

from __future__ import annotations

from aiohttp import web

from ..appkeys import SERVICES
from .board_data import board_rows
from .render import render


async def board_page(request: web.Request) -> web.Response:
    """GET /console/: the board, rendered whole so it works before the event stream opens."""
    async with request.app[SERVICES].sessions() as session:
        rows = await board_rows(session)
    return render(request, "board.html", rows=rows)


async def board_fragment(request: web.Request) -> web.Response:
    """GET /console/board/rows: just the table body, for the page's live refresh."""
    async with request.app[SERVICES].sessions() as session:
        rows = await board_rows(session)
    return render(request, "_board_rows.html", rows=rows)


async def board_json(request: web.Request) -> web.Response:
    """GET /console/api/board: the same rows as JSON (for wall displays and scripts)."""
    async with request.app[SERVICES].sessions() as session:
        rows = await board_rows(session)
    response = web.json_response({"alerts": [row.as_json() for row in rows]})
    response.headers["Cache-Control"] = "no-store"
    return response


async def root(request: web.Request) -> web.Response:
    """GET /: operators type the host name; send them to the console."""
    raise web.HTTPFound("/console/")


def add_routes(app: web.Application) -> None:
    """Register the board routes."""
    app.router.add_get("/", root)
    app.router.add_get("/console", root)
    app.router.add_get("/console/", board_page)
    app.router.add_get("/console/board/rows", board_fragment)
    app.router.add_get("/console/api/board", board_json)
