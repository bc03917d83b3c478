"""A resident's contacts and devices (supervisors): add, edit, deactivate."""

from __future__ import annotations

from aiohttp import web

from ..appkeys import SERVICES
from ..db.audit import AuditAction
from ..errors import GatewayError
from ..privacy import audit
from ..residents import service
from .auth import require_supervisor
from .inputs import checked_form, path_id
from .render import render
from .resident_forms import contact_in, contact_update, device_in
from .residents_view import RELATIONS, operator_actor, resident_page


async def add_contact(request: web.Request) -> web.Response:
    """POST /console/residents/{id}/contacts."""
    require_supervisor(request)
    services = request.app[SERVICES]
    resident_id = request.match_info["resident_id"]
    try:
        data = contact_in(await checked_form(request))
        async with services.sessions() as session:
            await service.create_contact(session, resident_id=resident_id, data=data,
                                         now=services.clock.now())
            audit.record(session, actor=operator_actor(request), action=AuditAction.CONTACT_CHANGE,
                         resident_id=resident_id, now=services.clock.now(), detail="added")
            await session.commit()
    except GatewayError as exc:
        return await resident_page(request, status=exc.http_status, error=str(exc))
    raise web.HTTPSeeOther(f"/console/residents/{resident_id}?done=saved#contacts")


async def edit_contact(request: web.Request, *, status: int = 200,
                       error: str | None = None) -> web.Response:
    """GET /console/contacts/{id}/edit."""
    require_supervisor(request)
    async with request.app[SERVICES].sessions() as session:
        contact = await service.get_contact(session, contact_id=path_id(request, "contact_id", "contact"))
    return render(request, "contact_form.html", status=status, c=contact, relations=RELATIONS,
                  error=error)


async def update_contact(request: web.Request) -> web.Response:
    """POST /console/contacts/{id}: change fields, or (de)activate with `active`."""
    require_supervisor(request)
    services = request.app[SERVICES]
    contact_id = path_id(request, "contact_id", "contact")
    form = await checked_form(request)
    now = services.clock.now()
    try:
        async with services.sessions() as session:
            if form.get("active") in ("0", "1") and "name" not in form:
                contact = await service.get_contact(session, contact_id=contact_id)
                if form.get("active") == "0":
                    await service.deactivate_contact(session, contact_id=contact_id, now=now)
                else:
                    contact.active = True
            else:
                contact = await service.update_contact(session, contact_id=contact_id,
                                                       data=contact_update(form), now=now)
            resident_id = contact.resident_id
            audit.record(session, actor=operator_actor(request), action=AuditAction.CONTACT_CHANGE,
                         resident_id=resident_id, now=now, detail=f"contact {contact_id}")
            await session.commit()
    except GatewayError as exc:
        return await edit_contact(request, status=exc.http_status, error=str(exc))
    raise web.HTTPSeeOther(f"/console/residents/{resident_id}?done=saved#contacts")


async def save_device(request: web.Request) -> web.Response:
    """POST /console/residents/{id}/devices: register, edit or deactivate a device by its id."""
    require_supervisor(request)
    services = request.app[SERVICES]
    resident_id = request.match_info["resident_id"]
    try:
        data = device_in(await checked_form(request))
        async with services.sessions() as session:
            await service.upsert_device(session, resident_id=resident_id, data=data,
                                        now=services.clock.now())
            audit.record(session, actor=operator_actor(request), action=AuditAction.DEVICE_CHANGE,
                         resident_id=resident_id, now=services.clock.now(),
                         detail=f"device {data.id}")
            await session.commit()
    except GatewayError as exc:
        return await resident_page(request, status=exc.http_status, error=str(exc))
    raise web.HTTPSeeOther(f"/console/residents/{resident_id}?done=saved#devices")


def add_routes(app: web.Application) -> None:
    """Register the contact and device routes."""
    r = app.router
    r.add_post("/console/residents/{resident_id}/contacts", add_contact)
    r.add_get(r"/console/contacts/{contact_id:\d+}/edit", edit_contact)
    r.add_post(r"/console/contacts/{contact_id:\d+}", update_contact)
    r.add_post("/console/residents/{resident_id}/devices", save_device)
