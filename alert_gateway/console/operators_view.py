"""The operator's own language and alarm sound, and the supervisors' page for operator accounts."""

from __future__ import annotations

import logging

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ..appkeys import SERVICES
from ..db.auth import Operator, Role
from ..errors import Conflict, InvalidInput
from ..i18n import LANGUAGES
from . import accounts, throttle_store
from .auth import current, require_supervisor
from .inputs import checked_form, path_id
from .keys import THROTTLE
from .render import render, translator

log = logging.getLogger(__name__)


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


async def set_sound(request: web.Request) -> web.Response:
    """POST /console/me/sound: alarm sound on or off, kept for the operator on every page and desk."""
    form = await checked_form(request)
    choice = str(form.get("sound", ""))
    if choice not in ("on", "off"):
        raise InvalidInput(f"sound must be on or off, not {choice[:10]!r}")
    async with request.app[SERVICES].sessions() as session:
        operator = await session.get(Operator, current(request).id)
        assert operator is not None
        operator.sound_on = choice == "on"
        await session.commit()
    log.info("alarm sound chosen", extra={"operator_id": operator.id, "sound": choice})
    back = str(form.get("next", ""))
    raise web.HTTPSeeOther(back if back.startswith("/console/") else "/console/")


async def _page(request: web.Request, session: AsyncSession, *, status: int = 200,
                error: str | None = None, notice: str | None = None) -> web.Response:
    operators = await accounts.get_all(session)
    throttles = await throttle_store.get_all(session, now=request.app[SERVICES].clock.now(),
                                             policy=request.app[THROTTLE])
    return render(request, "operators.html", status=status, operators=operators,
                  roles=list(Role), throttles=throttles, error=error, notice=notice)


async def operators_page(request: web.Request) -> web.Response:
    """GET /console/operators (supervisors): accounts and sign-in throttling."""
    require_supervisor(request)
    async with request.app[SERVICES].sessions() as session:
        return await _page(request, session, notice=request.query.get("done"))


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
            return await _page(request, session, status=400, error=str(exc))
    raise web.HTTPSeeOther("/console/operators?done=created")


async def toggle_operator(request: web.Request) -> web.Response:
    """POST /console/operators/{id}/active (supervisors): (de)activate an account."""
    supervisor = require_supervisor(request)
    operator_id = path_id(request, "operator_id", "operator")
    if operator_id == supervisor.id:
        raise InvalidInput("you cannot deactivate your own account")
    form = await checked_form(request)
    async with request.app[SERVICES].sessions() as session:
        try:
            await accounts.set_active(session, operator_id=operator_id,
                                      active=form.get("active") == "1")
        except Conflict:
            return await _page(request, session, status=409,
                               error=translator(request)("operators.last_supervisor"))
        await session.commit()
    raise web.HTTPSeeOther("/console/operators?done=saved")


async def set_phone(request: web.Request) -> web.Response:
    """POST /console/operators/{id}/phone (supervisors): the phone console calls ring first."""
    require_supervisor(request)
    operator_id = path_id(request, "operator_id", "operator")
    form = await checked_form(request)
    async with request.app[SERVICES].sessions() as session:
        try:
            await accounts.set_phone(session, operator_id=operator_id,
                                     phone=str(form.get("phone", "")).strip() or None)
            await session.commit()
        except InvalidInput:
            return await _page(request, session, status=400,
                               error=translator(request)("operators.bad_phone"))
    raise web.HTTPSeeOther("/console/operators?done=saved")


async def clear_throttle(request: web.Request) -> web.Response:
    """POST /console/operators/throttles/clear (supervisors): forget one throttle counter."""
    supervisor = require_supervisor(request)
    form = await checked_form(request)
    async with request.app[SERVICES].sessions() as session:
        await throttle_store.clear(session, key=str(form.get("key", "")))
        await session.commit()
    log.info("sign-in throttle cleared", extra={"operator_id": supervisor.id})
    raise web.HTTPSeeOther("/console/operators?done=cleared")


def add_routes(app: web.Application) -> None:
    """Register the account routes."""
    app.router.add_post("/console/me/language", set_language)
    app.router.add_post("/console/me/sound", set_sound)
    app.router.add_get("/console/operators", operators_page)
    app.router.add_post("/console/operators", create_operator)
    app.router.add_post(r"/console/operators/{operator_id:\d+}/active", toggle_operator)
    app.router.add_post(r"/console/operators/{operator_id:\d+}/phone", set_phone)
    app.router.add_post("/console/operators/throttles/clear", clear_throttle)
