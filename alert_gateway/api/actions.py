"""POST /alerts/{alert_id}/<action>: acknowledge, take, notes, arrival, escalate, resolve.

Each handler runs one action from alerts.actions in its own unit of work, which commits and only
then tells the bus, so the engine and the console never react to a change that could still roll back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ..alerts import actions, queries
from ..appkeys import SERVICES
from ..bus import ChangeKind
from ..db.alerts import AckChannel
from ..unit_of_work import UnitOfWork, retrying
from . import params
from .auth import NOW, actor
from .responses import model_response
from .schemas import (
    AcknowledgeIn,
    AlertRead,
    ArrivalIn,
    NoteIn,
    ResolveIn,
    TakeIn,
    TimelineEventRead,
)

R = TypeVar("R")


async def _run(request: web.Request, kind: ChangeKind,
               work: Callable[[AsyncSession, int], Awaitable[R]]) -> R:
    """Run `work` on the alert in the path, commit, then announce the change."""
    services = request.config_dict[SERVICES]
    alert_id = params.int_path(request, "alert_id", "alert")

    async def in_uow(uow: UnitOfWork) -> R:
        result = await work(uow.session, alert_id)
        uow.changed(alert_id, kind)
        return result

    return await retrying(services.sessions, services.bus, in_uow)


async def acknowledge(request: web.Request) -> web.Response:
    """Someone has taken responsibility: the escalation stops."""
    body = await params.body(request, AcknowledgeIn)
    alert = await _run(request, ChangeKind.ACKNOWLEDGED, lambda s, alert_id: actions.acknowledge(
        s, alert_id=alert_id, actor=actor(request), channel=AckChannel.API, now=request[NOW],
        contact_id=body.contact_id,
    ))
    return model_response(AlertRead.model_validate(alert))


async def take(request: web.Request) -> web.Response:
    """The caller takes the alert over; `force` takes it from someone else."""
    body = await params.body(request, TakeIn)
    alert = await _run(request, ChangeKind.TAKEN, lambda s, alert_id: actions.take(
        s, alert_id=alert_id, operator=actor(request), now=request[NOW], force=body.force,
    ))
    return model_response(AlertRead.model_validate(alert))


async def add_note(request: web.Request) -> web.Response:
    """A note on the timeline."""
    body = await params.body(request, NoteIn)
    event = await _run(request, ChangeKind.NOTE, lambda s, alert_id: actions.add_note(
        s, alert_id=alert_id, actor=actor(request), text=body.text, now=request[NOW],
    ))
    return model_response(TimelineEventRead.model_validate(event), status=201)


async def record_arrival(request: web.Request) -> web.Response:
    """A responder is at the home."""
    body = await params.body(request, ArrivalIn)
    alert = await _run(request, ChangeKind.ARRIVED, lambda s, alert_id: actions.record_arrival(
        s, alert_id=alert_id, actor=actor(request), now=request[NOW], contact_id=body.contact_id,
    ))
    return model_response(AlertRead.model_validate(alert))


async def escalate_now(request: web.Request) -> web.Response:
    """Run the next escalation step at once instead of waiting for its time."""
    async def work(s: AsyncSession, alert_id: int) -> AlertRead:
        await actions.escalate_now(s, alert_id=alert_id, actor=actor(request), now=request[NOW])
        return AlertRead.model_validate(await queries.get(s, alert_id=alert_id))

    return model_response(await _run(request, ChangeKind.ESCALATION_STEP, work))


async def resolve(request: web.Request) -> web.Response:
    """Close the alert with an outcome from the fixed list."""
    body = await params.body(request, ResolveIn)
    alert = await _run(request, ChangeKind.RESOLVED, lambda s, alert_id: actions.resolve(
        s, alert_id=alert_id, actor=actor(request), outcome=body.outcome, now=request[NOW],
        note=body.note,
    ))
    return model_response(AlertRead.model_validate(alert))
