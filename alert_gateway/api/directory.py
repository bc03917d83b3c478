"""GET /residents and /devices, through the residents service (key-safe codes never leave it)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import func
from sqlmodel import col, select

from ..appkeys import SERVICES
from ..db.audit import AuditAction
from ..db.residents import Device
from ..privacy import audit
from ..residents import service as residents
from ..residents.reads import ContactRead, DeviceRead, ResidentRead
from . import params
from .auth import actor
from .responses import model_response, page_response
from .schemas import DevicePage, ResidentDetail, ResidentPage


async def list_residents(request: web.Request) -> web.Response:
    """Residents by id, searched on id, name, kana or address."""
    limit, offset = params.page(request)
    search, active = params.text_query(request, "search"), params.bool_query(request, "active")
    services = request.config_dict[SERVICES]
    async with services.sessions() as session:
        rows = await residents.get_all(session, search=search, active=active, limit=limit, offset=offset)
        total = await residents.count(session, search=search, active=active)
        # which residents is not recorded (a page of ids per call); that a search ran is
        audit.record(session, actor=actor(request), action=AuditAction.LIST,
                     now=services.clock.now(), detail=f"{len(rows)} residents")
        await session.commit()
    return page_response(ResidentPage, rows, total=total, limit=limit, offset=offset)


async def get_resident(request: web.Request) -> web.Response:
    """One resident with contacts (calling order) and devices; never the key-safe code."""
    resident_id = request.match_info["resident_id"]
    services = request.config_dict[SERVICES]
    async with services.sessions() as session:
        resident = await residents.get(session, resident_id=resident_id)
        contacts = await residents.contacts_for(session, resident_id=resident_id)
        devices = await residents.devices_for(session, resident_id=resident_id)
        audit.record(session, actor=actor(request), action=AuditAction.VIEW,
                     resident_id=resident_id, now=services.clock.now())
        await session.commit()
    detail = ResidentDetail.model_validate({
        **ResidentRead.model_validate(resident).model_dump(),
        "contacts": [ContactRead.model_validate(c) for c in contacts],
        "devices": [DeviceRead.model_validate(d) for d in devices],
    })
    return model_response(detail)


async def list_devices(request: web.Request) -> web.Response:
    """Devices by id, filtered by resident and by online state."""
    limit, offset = params.page(request)
    filters: list[Any] = []
    if resident_id := params.text_query(request, "resident_id"):
        filters.append(col(Device.resident_id) == resident_id)
    if (online := params.bool_query(request, "online")) is not None:
        filters.append(col(Device.online) == online)
    async with request.config_dict[SERVICES].sessions() as session:
        count = select(func.count()).select_from(Device).where(*filters)
        total = (await session.exec(count)).one()
        query = select(Device).where(*filters).order_by(col(Device.id)).limit(limit).offset(offset)
        rows = (await session.exec(query)).all()
    return page_response(DevicePage, rows, total=int(total), limit=limit, offset=offset)


async def get_device(request: web.Request) -> web.Response:
    """One device with its supervision state."""
    async with request.config_dict[SERVICES].sessions() as session:
        device = await residents.get_device(session, device_id=request.match_info["device_id"])
    return model_response(DeviceRead.model_validate(device))
