"""POST /sweeps, GET /sweeps/{sweep_id}, its residents as CSV, and its pause, resume and stop:
disaster sweeps."""

from __future__ import annotations

from aiohttp import web

from ..appkeys import SERVICES
from ..db.audit import AuditAction
from ..errors import InvalidInput
from ..i18n import LANGUAGES
from ..privacy import audit
from ..sweep import service, starting, views
from ..sweep.export import stream_csv
from ..sweep.schemas import SweepIn
from . import params
from .auth import NOW, actor
from .responses import model_response


async def start_sweep(request: web.Request) -> web.Response:
    """Start a sweep of every resident or of an area; 409 when nobody lives there."""
    data = await params.body(request, SweepIn)
    services = request.config_dict[SERVICES]
    async with services.sessions() as session:
        sweep = await service.create(session, data=data, centre=services.settings.dispatch_name,
                                     actor=actor(request), now=request[NOW])
        await session.commit()
        assert sweep.id is not None
        read = await service.read(session, sweep_id=sweep.id)
    services.wakers.sweeps()
    return model_response(read, status=201)


async def get_sweep(request: web.Request) -> web.Response:
    """One sweep with its counts and a page of its residents (`limit`, at most 1,000, default
    500; `offset`)."""
    sweep_id = params.int_path(request, "sweep_id", "sweep")
    limit = params.int_query(request, "limit", default=service.RESIDENTS_PAGE, minimum=1,
                             maximum=service.RESIDENTS_PAGE_MAX)
    offset = params.int_query(request, "offset", default=0, minimum=0)
    async with request.config_dict[SERVICES].sessions() as session:
        read = await service.read(session, sweep_id=sweep_id, limit=limit, offset=offset)
        audit.record(session, actor=actor(request), action=AuditAction.LIST, now=request[NOW],
                     detail=f"sweep {sweep_id}, {len(read.residents)} residents")
        await session.commit()
    return model_response(read)


async def sweep_entries_csv(request: web.Request) -> web.StreamResponse:
    """The sweep's residents as the console's CSV export, labels in `lang` (default ja)."""
    sweep_id = params.int_path(request, "sweep_id", "sweep")
    language = request.query.get("lang", "ja")
    if language not in LANGUAGES:
        raise InvalidInput(f"lang {language[:40]!r} is not known; use one of: {', '.join(LANGUAGES)}.")
    services = request.config_dict[SERVICES]
    async with services.sessions() as session:
        await starting.get(session, sweep_id=sweep_id)
        total = sum((await views.counts(session, sweep_id=sweep_id)).values())
        audit.record(session, actor=actor(request), action=AuditAction.EXPORT, now=request[NOW],
                     detail=f"sweep {sweep_id}, {total} residents")
        await session.commit()
    return await stream_csv(request, services.sessions, sweep_id=sweep_id, language=language,
                            zone=services.settings.timezone)


async def _control(request: web.Request, action: str) -> web.Response:
    sweep_id = params.int_path(request, "sweep_id", "sweep")
    services = request.config_dict[SERVICES]
    async with services.sessions() as session:
        await starting.control(session, sweep_id=sweep_id, action=action, now=request[NOW])
        await session.commit()
        read = await service.read(session, sweep_id=sweep_id)
    services.wakers.sweeps()
    return model_response(read)


async def pause_sweep(request: web.Request) -> web.Response:
    """Pause: no new calls; calls on the line finish and are read."""
    return await _control(request, "pause")


async def resume_sweep(request: web.Request) -> web.Response:
    """Resume a paused sweep."""
    return await _control(request, "resume")


async def stop_sweep(request: web.Request) -> web.Response:
    """Stop: residents not yet called are not called."""
    return await _control(request, "stop")
