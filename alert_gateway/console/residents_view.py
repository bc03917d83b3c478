"""Residents: list and search (everyone), create, edit and deactivate (supervisors)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError

from ..alerts import queries
from ..appkeys import SERVICES
from ..db.audit import AuditAction
from ..errors import GatewayError
from ..privacy import audit
from ..residents import service
from ..residents.schemas import DeviceKind
from ..sweep import views as sweep_views
from ..wellbeing import history as wellbeing_history
from .auth import current, require_supervisor
from .inputs import check_form, shown_again
from .render import render, translator
from .resident_forms import resident_in, resident_update

log = logging.getLogger(__name__)

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
    """GET /console/residents/{id}: card, contacts, devices, recent alerts, wellbeing calls and
    disaster sweeps."""
    resident_id = request.match_info["resident_id"]
    services = request.app[SERVICES]
    async with services.sessions() as session:
        resident = await service.get(session, resident_id=resident_id)
        contacts = await service.contacts_for(session, resident_id=resident_id)
        devices = await service.devices_for(session, resident_id=resident_id)
        alerts = await queries.history_for_resident(session, resident_id=resident_id)
        wellbeing_calls = await wellbeing_history.for_resident(session, resident_id=resident_id)
        checkin = (await wellbeing_history.last_checkins(session, [resident_id])).get(resident_id)
        sweeps = await sweep_views.for_resident(session, resident_id=resident_id)
        audit.record(session, actor=operator_actor(request), action=AuditAction.VIEW,
                     resident_id=resident_id, now=services.clock.now())
        await session.commit()
    active = [c for c in contacts if c.active]
    return render(request, "resident.html", status=status, r=resident, contacts=contacts,
                  devices=devices, alerts=alerts, error=error, relations=RELATIONS,
                  kinds=list(DeviceKind), few_responders=len(active) < 2,
                  wellbeing_calls=wellbeing_calls, last_checkin=checkin, sweeps=sweeps,
                  notice=request.query.get("done"))


async def resident_view(request: web.Request) -> web.Response:
    """GET /console/residents/{id}."""
    return await resident_page(request)


def operator_actor(request: web.Request) -> str:
    """The signed-in operator as the audit log names them."""
    return f"operator:{current(request).name}"


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
            audit.record(session, actor=operator_actor(request), action=AuditAction.CREATE,
                         resident_id=data.id, now=services.clock.now(),
                         fields=data.model_fields_set)
            await session.commit()
    except GatewayError as exc:
        return _form_page(request, r=shown_again(form), creating=True, status=exc.http_status,
                          error=str(exc))
    services.wakers.schedules()
    raise web.HTTPSeeOther(f"/console/residents/{data.id}?done=created")


async def edit_resident(request: web.Request) -> web.Response:
    """GET /console/residents/{id}/edit (supervisors)."""
    require_supervisor(request)
    services = request.app[SERVICES]
    async with services.sessions() as session:
        resident = await service.get(session, resident_id=request.match_info["resident_id"])
        audit.record(session, actor=operator_actor(request), action=AuditAction.VIEW,
                     resident_id=resident.id, now=services.clock.now(), detail="edit form")
        await session.commit()
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
            before = (await service.get(session, resident_id=resident_id)).model_dump()
            after = await service.update(session, resident_id=resident_id, data=data,
                                         now=services.clock.now())
            audit.record(session, actor=operator_actor(request), action=AuditAction.UPDATE,
                         resident_id=resident_id, now=services.clock.now(),
                         fields=audit.changed_fields(before, after.model_dump()))
            await session.commit()
    except GatewayError as exc:
        values = shown_again(form) | {"id": resident_id}
        return _form_page(request, r=values, creating=False, status=exc.http_status,
                          error=str(exc))
    except SQLAlchemyError as exc:
        # What the edge rules let through but the database refused, a record changed meanwhile,
        # or the database gone: the form again with one line, not a 500. Only ids in the log.
        log.warning("resident edit refused by the database",
                    extra={"resident_id": resident_id, "error": type(exc).__name__})
        status, message = _database_refusal(exc)
        values = shown_again(form) | {"id": resident_id}
        return _form_page(request, r=values, creating=False, status=status,
                          error=translator(request)(message))
    services.wakers.schedules()
    raise web.HTTPSeeOther(f"/console/residents/{resident_id}?done=saved")


def _database_refusal(exc: SQLAlchemyError) -> tuple[int, str]:
    """The HTTP status and message key for an edit the database did not take."""
    if isinstance(exc, StaleDataError):  # the row was gone (or changed) when the UPDATE ran
        return 409, "error.changed_meanwhile"
    if isinstance(exc, IntegrityError | DataError):
        return 400, "error.database_refused"
    return 503, "error.database_unavailable"


async def deactivate_resident(request: web.Request) -> web.Response:
    """POST /console/residents/{id}/deactivate (supervisors): history stays."""
    require_supervisor(request)
    services = request.app[SERVICES]
    resident_id = request.match_info["resident_id"]
    async with services.sessions() as session:
        await service.deactivate(session, resident_id=resident_id, now=services.clock.now())
        audit.record(session, actor=operator_actor(request), action=AuditAction.DEACTIVATE,
                     resident_id=resident_id, now=services.clock.now())
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
