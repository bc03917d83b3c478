"""GET and PUT /residents/{resident_id}/wellbeing: the お元気コール schedule and its history."""

from __future__ import annotations

from aiohttp import web

from ..appkeys import SERVICES
from ..db.audit import AuditAction
from ..errors import Conflict, InvalidInput
from ..privacy import audit
from ..residents import service as residents
from ..residents.schemas import ResidentUpdate
from ..wellbeing import history
from ..wellbeing.schedule import Schedule
from ..wellbeing.schemas import WellbeingCallRead, WellbeingIn, WellbeingRead
from . import params
from .auth import NOW, actor
from .responses import model_response


async def get_wellbeing(request: web.Request) -> web.Response:
    """The resident's wellbeing schedule and recent results."""
    resident_id = request.match_info["resident_id"]
    services = request.config_dict[SERVICES]
    async with services.sessions() as session:
        await residents.get(session, resident_id=resident_id)  # 404 for a stranger
        audit.record(session, actor=actor(request), action=AuditAction.VIEW,
                     resident_id=resident_id, now=services.clock.now(), detail="wellbeing")
        await session.commit()
    return await _answer(request, resident_id)


async def put_wellbeing(request: web.Request) -> web.Response:
    """Set (or with a null schedule, stop) the resident's wellbeing calls."""
    resident_id = request.match_info["resident_id"]
    body = await params.body(request, WellbeingIn)
    if body.schedule is not None:
        try:
            Schedule.parse(body.schedule)
        except InvalidInput as exc:  # well formed, but the window ends before it starts
            raise Conflict(str(exc)) from None
    services = request.config_dict[SERVICES]
    async with services.sessions() as session:
        await residents.update(session, resident_id=resident_id, now=request[NOW], data=ResidentUpdate(
            wellbeing_schedule=body.schedule, wellbeing_timezone=body.timezone,
            wellbeing_channel=body.channel))
        audit.record(session, actor=actor(request), action=AuditAction.UPDATE,
                     resident_id=resident_id, now=request[NOW],
                     fields=("wellbeing_schedule", "wellbeing_timezone", "wellbeing_channel"))
        await session.commit()
    services.wakers.schedules()
    return await _answer(request, resident_id)


async def _answer(request: web.Request, resident_id: str) -> web.Response:
    async with request.config_dict[SERVICES].sessions() as session:
        resident = await residents.get(session, resident_id=resident_id)
        calls = await history.for_resident(session, resident_id=resident_id)
        checkins = await history.last_checkins(session, [resident_id])
    return model_response(WellbeingRead(
        resident_id=resident_id, schedule=resident.wellbeing_schedule,
        timezone=resident.wellbeing_timezone, channel=resident.wellbeing_channel,
        last_checkin=checkins.get(resident_id),
        calls=[WellbeingCallRead.model_validate(c) for c in calls]))
