"""PostgreSQL: a batch's claim of its message keys and the read of its devices, one statement.

They were two round trips of an alarm's storing transaction, each waiting on a busy event loop
behind whatever else was ready (a sweep's callbacks). Here the claim (INSERT … ON CONFLICT DO
NOTHING RETURNING, over arrays) is a data-modifying WITH whose rows come back as one JSON value
on the first of the devices' rows, from a one-row anchor so that they come back with no device
too.

The read shares the statement's snapshot, taken before the claim waited for another replica's
claim of the same key: when a key turns out held, the caller reads the devices again, after it,
and sees the alert that replica opened (as the two statements in that order did).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import JSON, Row, Select, Table, case, func, select
from sqlalchemy.dialects import postgresql
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import Device, InboundMessage
from ..db.rowset import RowSet
from .bulk import CLAIM_COLUMNS, KEY_COLUMNS, ClaimedValues, InboundKey, claim_values
from .devicerows import DEVICE_ENTITIES, IS_LISTED, with_alerts_and_people

_INBOUND: Table = InboundMessage.__table__  # type: ignore[attr-defined]
_CLAIMS = RowSet("claims", tuple((c, _INBOUND.c[c].type) for c in CLAIM_COLUMNS))


@cache
def _statement() -> Select[Any]:
    rows = _CLAIMS.source("postgresql")
    claimed = (postgresql.insert(_INBOUND)
               .from_select(CLAIM_COLUMNS, select(*(rows.c[c] for c in CLAIM_COLUMNS)))
               .on_conflict_do_nothing(index_elements=list(KEY_COLUMNS))
               .returning(*(_INBOUND.c[c] for c in ("id", *KEY_COLUMNS)))
               .cte("claimed_inboundmessage"))
    made = select(func.json_agg(func.json_build_array(*claimed.c), type_=JSON)
                  .label("claimed")).subquery("claims_made")
    # on one row only: repeated beside every device and contact, a storm's batch of 500 sent
    # and decoded its claims 1,500 times (storing 10,000 alarms took 35 s instead of 9)
    once = case((func.row_number().over() == 1, made.c.claimed)).label("claimed")
    return with_alerts_and_people(select(once, *DEVICE_ENTITIES).select_from(made)
                                  .outerjoin(Device, IS_LISTED))


async def claim_and_read(session: AsyncSession, claims: dict[InboundKey, ClaimedValues],
                         device_ids: list[str], *,
                         now: datetime) -> tuple[dict[InboundKey, int], Sequence[Row[Any]]]:
    """The keys claimed (with their new row ids), and the devices' rows (`DeviceRows.of`)."""
    params = _CLAIMS.params(session.get_bind().dialect, claim_values(claims, now=now))
    rows = (await session.exec(_statement(),  # type: ignore[call-overload]
                               params={**params, "device_ids": device_ids})).all()
    made = next((row.claimed for row in rows if row.claimed is not None), None)  # decoded JSON
    return {(d, c, m): i for i, d, c, m in made or ()}, rows
