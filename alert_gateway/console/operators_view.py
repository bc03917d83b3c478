"""The operator's own language, and the supervisors' page for operator accounts."""

from __future__ import annotations

from aiohttp import web

from ..db.auth import Operator, Role
from ..errors import InvalidInput
from ..web.keys import SERVICES
from . import accounts
from .auth import current, require_supervisor
from .i18n import LANGUAGES
from .inputs import checked_form, path_id
from .render import render


async def set_language(request: web.Request) -> web.Response:
    """POST /console/me/language: the console language follows the operator, not the browser."""
    form = await checked_form(request)
    language = str(form.get("language", ""))
    if language not in LANGUAGES:
        raise InvalidInput(f"unknown language {language!r}")
    async with request.app[SERVICES].sessions() as session:
        operator = await session.get(Operator, current(request).id)
        assert operator is not None
        operator.language = language
        await session.commit()
    back = str(form.get("next", ""))
    raise web.HTTPSeeOther(back if back.startswith("/console/") else "/console/")


async def operators_page(request: web.Request) -> web.Response:
    """GET /console/operators (supervisors)."""
    require_supervisor(request)
    async with request.app[SERVICES].sessions() as session:
        operators = await accounts.get_all(session)
    return render(request, "operators.html", operators=operators, roles=list(Role),
                  error=None, notice=request.query.get("done"))


async def create_operator(request: web.Request) -> web.Response:
    """POST /console/operators (supervisors): a new account."""
    require_supervisor(request)
    services = request.app[SERVICES]
    async with services.sessions() as session:
        try:
            form = await checked_form(request)
            role = str(form.get("role", Role.OPERATOR.value))
            await accounts.create(
                session, name=str(form.get("name", "")).strip(),
                role=Role(role) if role in Role._value2member_map_ else Role.OPERATOR,
                password=str(form.get("password", "")), now=services.clock.now(),
                display_name=str(form.get("display_name", "")).strip() or None,
                language=str(form.get("language", "ja")),
            )
            await session.commit()
        except InvalidInput as exc:
            operators = await accounts.get_all(session)
            return render(request, "operators.html", status=400, operators=operators,
                          roles=list(Role), error=str(exc), notice=None)
    raise web.HTTPSeeOther("/console/operators?done=created")


async def toggle_operator(request: web.Request) -> web.Response:
    """POST /console/operators/{id}/active (supervisors): (de)activate an account."""
    supervisor = require_supervisor(request)
    operator_id = path_id(request, "operator_id", "operator")
    if operator_id == supervisor.id:
        raise InvalidInput("you cannot deactivate your own account")
    form = await checked_form(request)
    async with request.app[SERVICES].sessions() as session:
        await accounts.set_active(session, operator_id=operator_id,
                                  active=form.get("active") == "1")
        await session.commit()
    raise web.HTTPSeeOther("/console/operators?done=saved")


def add_routes(app: web.Application) -> None:
    """Register the account routes."""
    app.router.add_post("/console/me/language", set_language)
    app.router.add_get("/console/operators", operators_page)
    app.router.add_post("/console/operators", create_operator)
    app.router.add_post(r"/console/operators/{operator_id:\d+}/active", toggle_operator)
