"""A contact's LINE link (supervisors): issue a one-time link code to hand over, or unlink."""

from __future__ import annotations

from aiohttp import web

from ..appkeys import SERVICES
from ..db.audit import AuditAction
from ..errors import GatewayError
from ..line import linking
from ..privacy import audit
from ..residents import service
from .auth import require_supervisor
from .inputs import checked_form, path_id
from .render import render
from .residents_view import operator_actor


async def line_page(request: web.Request, *, status: int = 200, code: str | None = None,
                    expires: str | None = None, error: str | None = None) -> web.Response:
    """GET /console/contacts/{id}/line: linked or not, and how to link."""
    require_supervisor(request)
    services = request.app[SERVICES]
    async with services.sessions() as session:
        contact = await service.get_contact(session, contact_id=path_id(request, "contact_id",
                                                                        "contact"))
    return render(request, "line_link.html", status=status, c=contact, code=code, expires=expires,
                  error=error, line_enabled=services.settings.line_enabled,
                  hours=services.settings.line_link_code_hours)


async def line_action(request: web.Request) -> web.Response:
    """POST /console/contacts/{id}/line: `action=code` issues a code (shown once), `unlink` unlinks."""
    operator = require_supervisor(request)
    services = request.app[SERVICES]
    contact_id = path_id(request, "contact_id", "contact")
    form = await checked_form(request)
    now = services.clock.now()
    try:
        async with services.sessions() as session:
            contact = await service.get_contact(session, contact_id=contact_id)
            if form.get("action") == "unlink":
                contact.line_user_id, contact.updated_at = None, now
                code, expires, detail = None, None, f"contact {contact_id}: LINE unlinked"
            else:
                _, code, until = await linking.create_code(
                    session, contact_id=contact_id, actor=f"operator:{operator.name}", now=now,
                    hours=services.settings.line_link_code_hours)
                expires, detail = until.isoformat(timespec="minutes"), f"contact {contact_id}: LINE code"
            audit.record(session, actor=operator_actor(request), action=AuditAction.CONTACT_CHANGE,
                         resident_id=contact.resident_id, now=now, detail=detail)
            await session.commit()
    except GatewayError as exc:
        return await line_page(request, status=exc.http_status, error=str(exc))
    return await line_page(request, code=code, expires=expires)


def add_routes(app: web.Application) -> None:
    """Register the LINE link page."""
    app.router.add_get(r"/console/contacts/{contact_id:\d+}/line", line_page)
    app.router.add_post(r"/console/contacts/{contact_id:\d+}/line", line_action)
