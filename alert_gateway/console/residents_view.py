"""Residents: list and search (everyone), create, edit and deactivate (supervisors)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..alerts import queries
from ..appkeys import SERVICES
from ..errors import GatewayError
from ..residents import service
from ..residents.schemas import DeviceKind
from .auth import require_supervisor
from .inputs import check_form, shown_again
from .render import render
from .resident_forms import resident_in, resident_update

RELATIONS = ("family", "neighbour", "care_manager", "contractor", "dispatch")


async def residents_page(request: web.Request) -> web.Response:
    """GET /console/residents?q=&all=1: search by id, name, kana (hiragana too) or address."""
    search = request.query.get("q", "").strip()
    show_all = request.query.get("all") == "1"
    async with request.app[SERVICES].sessions() as session:
        rows = await service.get_all(session, search=search or None,
                                     active=None if show_all else True, limit=200)
    return render(request, "residents.html", residents=rows, q=search, show_all=show_all,
                  notice=request.query.get("done"))


async def resident_page(request: web.Request, *, status: int = 200, error: str | None = None,
                        ) -> web.Response:
    """GET /console/residents/{id}: card, contacts, devices and recent alerts."""
    resident_id = request.match_info["resident_id"]
    async with request.app[SERVICES].sessions() as session:
        resident = await service.get(session, resident_id=resident_id)
        contacts = await service.contacts_for(session, resident_id=resident_id)
        devices = await service.devices_for(session, resident_id=resident_id)
        alerts = await queries.history_for_resident(session, resident_id=resident_id)
    active = [c for c in contacts if c.active]
    return render(request, "resident.html", status=status, r=resident, contacts=contacts,
                  devices=devices, alerts=alerts, error=error, relations=RELATIONS,
                  kinds=list(DeviceKind), few_responders=len(active) < 2,
                  notice=request.query.get("done"))


async def resident_view(request: web.Request) -> web.Response:
    """GET /console/residents/{id}."""
    return await resident_page(request)


def _form_page(request: web.Request, *, r: Any, creating: bool, status: int = 200,
               error: str | None = None) -> web.Response:
    return render(request, "resident_form.html", status=status, r=r, creating=creating,
                  error=error)


async def new_resident(request: web.Request) -> web.Response:
    """GET /console/residents/new (supervisors)."""
    require_supervisor(request)
    return _form_page(request, r=None, creating=True)


async def create_resident(request: web.Request) -> web.Response:
    """POST /console/residents (supervisors)."""
    require_supervisor(request)
    services = request.app[SERVICES]
    form = await request.post()
    try:
        check_form(request, form)
        data = resident_in(form)
        async with services.sessions() as session:
            await service.create(session, data=data, now=services.clock.now())
            await session.commit()
    except GatewayError as exc:
        return _form_page(request, r=shown_again(form), creating=True, status=exc.http_status,
                          error=str(exc))
    raise web.HTTPSeeOther(f"/console/residents/{data.id}?done=created")


async def edit_resident(request: web.Request) -> web.Response:
    """GET /console/residents/{id}/edit (supervisors)."""
    require_supervisor(request)
    async with request.app[SERVICES].sessions() as session:
        resident = await service.get(session, resident_id=request.match_info["resident_id"])
    return _form_page(request, r=resident, creating=False)


async def update_resident(request: web.Request) -> web.Response:
    """POST /console/residents/{id} (supervisors)."""
    require_supervisor(request)
    services = request.app[SERVICES]
    resident_id = request.match_info["resident_id"]
    form = await request.post()
    try:
        check_form(request, form)
        data = resident_update(form)
        async with services.sessions() as session:
            await service.update(session, resident_id=resident_id, data=data,
                                 now=services.clock.now())
            await session.commit()
    except GatewayError as exc:
        values = shown_again(form) | {"id": resident_id}
        return _form_page(request, r=values, creating=False, status=exc.http_status,
                          error=str(exc))
    raise web.HTTPSeeOther(f"/console/residents/{resident_id}?done=saved")


async def deactivate_resident(request: web.Request) -> web.Response:
    """POST /console/residents/{id}/deactivate (supervisors): history stays."""
    require_supervisor(request)
    services = request.app[SERVICES]
    resident_id = request.match_info["resident_id"]
    async with services.sessions() as session:
        await service.deactivate(session, resident_id=resident_id, now=services.clock.now())
        await session.commit()
    raise web.HTTPSeeOther(f"/console/residents/{resident_id}?done=saved")


def add_routes(app: web.Application) -> None:
    """Register the resident routes (the literal paths before the {id} ones)."""
    r = app.router
    r.add_get("/console/residents", residents_page)
    r.add_get("/console/residents/new", new_resident)
    r.add_post("/console/residents", create_resident)
    r.add_get("/console/residents/{resident_id}", resident_view)
    r.add_get("/console/residents/{resident_id}/edit", edit_resident)
    r.add_post("/console/residents/{resident_id}", update_resident)
    r.add_post("/console/residents/{resident_id}/deactivate", deactivate_resident)
