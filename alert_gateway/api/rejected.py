"""GET /rejected-messages: MQTT input that was not accepted, newest first."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import func
from sqlmodel import col, select

from ..appkeys import SERVICES
from ..db.messages import RejectedMessage, RejectReason
from . import params
from .responses import page_response
from .schemas import RejectedMessagePage


async def list_rejected(request: web.Request) -> web.Response:
    """Rejected messages, filtered by device and reason, with the raw payload."""
    limit, offset = params.page(request)
    filters = []
    if device_id := params.text_query(request, "device_id"):
        filters.append(col(RejectedMessage.device_id) == device_id)
    if (reasons := params.enum_list_query(request, "reason", RejectReason)) is not None:
        filters.append(col(RejectedMessage.reason).in_([r.value for r in reasons]))
    async with request.config_dict[SERVICES].sessions() as session:
        total = (await session.exec(
            select(func.count()).select_from(RejectedMessage).where(*filters)
        )).one()
        query = (
            select(RejectedMessage).where(*filters)
            .order_by(col(RejectedMessage.received_at).desc(), col(RejectedMessage.id).desc())
            .limit(limit).offset(offset)
        )
        rows = (await session.exec(query)).all()
    return page_response(RejectedMessagePage, rows, total=int(total), limit=limit, offset=offset)
