"""A LINE link (supervisors): a contact's (alarms) or a resident's own (a disaster sweep's
message); issue a one-time link code to hand over, or unlink."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ..appkeys import SERVICES
from ..db.audit import AuditAction
from ..db.models import Contact, Resident
from ..errors import GatewayError
from ..line import linking
from ..privacy import audit
from ..residents import service
from .auth import require_supervisor
from .inputs import checked_form, path_id
from .render import render
from .residents_view import operator_actor


@dataclass(frozen=True)
class Owner:
    """Whose LINE link the page is about, as the page shows it."""

    row: Contact | Resident
    resident_id: str
    action: str  # where the page's form posts
    linked_text: str  # catalogue key of the "linked" sentence
    audited: str  # names the owner in the audit entry


async def _owner(request: web.Request, session: AsyncSession) -> Owner:
    """The contact or the resident named by the path (NotFound if gone)."""
    if "contact_id" in request.match_info:
        contact_id = path_id(request, "contact_id", "contact")
        contact = await service.get_contact(session, contact_id=contact_id)
        return Owner(contact, contact.resident_id, f"/console/contacts/{contact_id}/line",
                     "line_link.linked", f"contact {contact_id}")
    resident = await service.get(session, resident_id=request.match_info["resident_id"])
    return Owner(resident, resident.id, f"/console/residents/{resident.id}/line",
                 "line_link.linked_resident", f"resident {resident.id}")


async def line_page(request: web.Request, *, status: int = 200, code: str | None = None,
                    expires: str | None = None, error: str | None = None) -> web.Response:
    """GET /console/contacts/{id}/line or /console/residents/{id}/line: linked or not, and how
    to link."""
    require_supervisor(request)
    services = request.app[SERVICES]
    async with services.sessions() as session:
        owner = await _owner(request, session)
    return render(request, "line_link.html", status=status, owner=owner, code=code,
                  expires=expires, error=error, line_enabled=services.settings.line_enabled,
                  hours=services.settings.line_link_code_hours)


async def line_action(request: web.Request) -> web.Response:
    """POST: `action=code` issues a code (shown once), `unlink` unlinks."""
    operator = require_supervisor(request)
    services = request.app[SERVICES]
    form = await checked_form(request)
    now = services.clock.now()
    actor = f"operator:{operator.name}"
    hours = services.settings.line_link_code_hours
    try:
        async with services.sessions() as session:
            owner = await _owner(request, session)
            row = owner.row
            if form.get("action") == "unlink":
                row.line_user_id, row.updated_at = None, now
                code, expires, detail = None, None, f"{owner.audited}: LINE unlinked"
            else:
                if isinstance(row, Contact):
                    assert row.id is not None
                    _, code, until = await linking.create_code(
                        session, contact_id=row.id, actor=actor, now=now, hours=hours)
                else:
                    _, code, until = await linking.create_resident_code(
                        session, resident_id=row.id, actor=actor, now=now, hours=hours)
                expires, detail = until.isoformat(timespec="minutes"), f"{owner.audited}: LINE code"
            audit.record(session, actor=operator_actor(request), action=AuditAction.CONTACT_CHANGE,
                         resident_id=owner.resident_id, now=now, detail=detail)
            await session.commit()
    except GatewayError as exc:
        return await line_page(request, status=exc.http_status, error=str(exc))
    return await line_page(request, code=code, expires=expires)


def add_routes(app: web.Application) -> None:
    """Register the LINE link pages."""
    for path in (r"/console/contacts/{contact_id:\d+}/line", "/console/residents/{resident_id}/line"):
        app.router.add_get(path, line_page)
        app.router.add_post(path, line_action)
