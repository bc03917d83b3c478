"""The disaster sweep pages (supervisors): start one in two clicks, watch it live, pause, resume
or stop it, export its list as CSV and print it."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from pydantic import ValidationError

from ..appkeys import SERVICES
from ..db.audit import AuditAction
from ..db.models import Sweep
from ..errors import Conflict, InvalidInput
from ..privacy import audit
from ..sweep import service, starting, views
from ..sweep.export import stream_csv
from ..sweep.schemas import SweepIn
from .auth import require_supervisor
from .inputs import checked_form, path_id
from .render import render, translator

# Residents the sweep page lists (those who need someone first); the CSV has everyone. All
# 10,000 of a city made each live re-read take a second of the loop, alarms waiting behind it.
LIVE_ROWS = 200


async def _list_page(request: web.Request, *, status: int = 200, error: str | None = None,
                     form: dict[str, str] | None = None) -> web.Response:
    services = request.app[SERVICES]
    centre = services.settings.dispatch_name
    async with services.sessions() as session:
        sweeps = await views.latest(session)
    values = {"scope": "all", "area_prefix": "",
              "message_ja": starting.default_message("ja", centre=centre),
              "message_en": starting.default_message("en", centre=centre)} | (form or {})
    return render(request, "sweeps.html", status=status, sweeps=sweeps, form=values, error=error)


async def sweeps_page(request: web.Request) -> web.Response:
    """GET /console/sweeps: the start form (defaults filled in) and the sweeps so far."""
    require_supervisor(request)
    return await _list_page(request)


async def start_sweep(request: web.Request) -> web.Response:
    """POST /console/sweeps: everyone or an area, then Start; on to the live page."""
    operator = require_supervisor(request)
    form = await checked_form(request)
    given = {k: str(form.get(k, "")).strip()
             for k in ("scope", "area_prefix", "message_ja", "message_en")}
    if given["scope"] == "area" and not given["area_prefix"]:
        raise InvalidInput("area_prefix: write the start of the address, or choose everyone")
    try:
        data = SweepIn(area_prefix=given["area_prefix"] if given["scope"] == "area" else None,
                       message_ja=given["message_ja"] or None,
                       message_en=given["message_en"] or None)
    except ValidationError as exc:
        raise InvalidInput("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                     for e in exc.errors())) from None
    services = request.app[SERVICES]
    try:
        async with services.sessions() as session:
            sweep = await service.create(session, data=data, centre=services.settings.dispatch_name,
                                         actor=f"operator:{operator.name}",
                                         now=services.clock.now())
            await session.commit()
    except Conflict:  # nobody lives there: the form again, as it was filled in
        return await _list_page(request, status=409, form=given,
                                error=translator(request)("sweep.no_residents"))
    services.wakers.sweeps()
    raise web.HTTPSeeOther(f"/console/sweeps/{sweep.id}")


@dataclass
class Loaded:
    """One sweep as its page shows it."""

    sweep: Sweep
    counts: dict[str, int]
    rows: list[views.Row]


async def _loaded(request: web.Request, *, audited: AuditAction | None = None) -> Loaded:
    """The sweep with its first LIVE_ROWS residents; `audited`: record that its list of residents
    was shown (the live re-reads of a page already recorded are not)."""
    operator = require_supervisor(request)
    sweep_id = path_id(request, "sweep_id", "sweep")
    services = request.app[SERVICES]
    async with services.sessions() as session:
        sweep = await starting.get(session, sweep_id=sweep_id)
        loaded = Loaded(sweep, await views.counts(session, sweep_id=sweep_id),
                        await views.rows(session, sweep_id=sweep_id, limit=LIVE_ROWS,
                                        attention_first=True))
        if audited is not None:
            audit.record(session, actor=f"operator:{operator.name}", action=audited,
                         now=services.clock.now(),
                         detail=f"sweep {sweep_id}, {len(loaded.rows)} residents")
            await session.commit()
        return loaded


async def sweep_page(request: web.Request) -> web.Response:
    """GET /console/sweeps/{id}: counts and list, re-read live; the controls."""
    return render(request, "sweep.html", **vars(await _loaded(request, audited=AuditAction.LIST)))


async def sweep_fragment(request: web.Request) -> web.Response:
    """GET /console/sweeps/{id}/live: the counts and list only, for the page's live refresh."""
    return render(request, "_sweep_live.html", **vars(await _loaded(request)))


async def control_sweep(request: web.Request) -> web.Response:
    """POST /console/sweeps/{id}/{pause|resume|stop}."""
    require_supervisor(request)
    await checked_form(request)
    action = request.match_info["action"]
    services = request.app[SERVICES]
    sweep_id = path_id(request, "sweep_id", "sweep")
    async with services.sessions() as session:
        await starting.control(session, sweep_id=sweep_id, action=action,
                               now=services.clock.now())
        await session.commit()
    services.wakers.sweeps()
    raise web.HTTPSeeOther(f"/console/sweeps/{sweep_id}")


async def sweep_csv(request: web.Request) -> web.StreamResponse:
    """GET /console/sweeps/{id}.csv: in the operator's language (the API has the same file)."""
    operator = require_supervisor(request)
    sweep_id = path_id(request, "sweep_id", "sweep")
    services = request.app[SERVICES]
    async with services.sessions() as session:
        await starting.get(session, sweep_id=sweep_id)
        total = sum((await views.counts(session, sweep_id=sweep_id)).values())
        audit.record(session, actor=f"operator:{operator.name}", action=AuditAction.EXPORT,
                     now=services.clock.now(), detail=f"sweep {sweep_id}, {total} residents")
        await session.commit()
    return await stream_csv(request, services.sessions, sweep_id=sweep_id,
                            language=translator(request).lang, zone=services.settings.timezone)


def add_routes(app: web.Application) -> None:
    """Register the sweep routes."""
    app.router.add_get("/console/sweeps", sweeps_page)
    app.router.add_post("/console/sweeps", start_sweep)
    app.router.add_get(r"/console/sweeps/{sweep_id:\d+}.csv", sweep_csv)
    app.router.add_get(r"/console/sweeps/{sweep_id:\d+}", sweep_page)
    app.router.add_get(r"/console/sweeps/{sweep_id:\d+}/live", sweep_fragment)
    app.router.add_post(r"/console/sweeps/{sweep_id:\d+}/{action:pause|resume|stop}",
                        control_sweep)
