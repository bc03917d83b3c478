"""PostgreSQL: a batch's claim of its message keys and the read of its devices, one statement.

They were two round trips of an alarm's storing transaction, each waiting on a busy event loop
behind whatever else was ready (a sweep's callbacks). Here the claim (INSERT … ON CONFLICT DO
NOTHING RETURNING, over arrays) is a data-modifying WITH whose rows come back as one JSON column
beside the devices' rows, on a one-row anchor so that they come back with no device too.

The read shares the statement's snapshot, taken before the claim waited for another replica's
claim of the same key: when a key turns out held, the caller reads the devices again, after it,
and sees the alert that replica opened (as the two statements in that order did).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import JSON, Integer, Row, Select, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import Channel

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
    # ids for the alerts the claimed alarms may open, drawn now: they then go in with their
    # first step's rows (escalation/steprows_pg.py), not by an INSERT … RETURNING of their own
    drawn = (select(func.array_agg(func.nextval(func.pg_get_serial_sequence("alert", "id"))))
             .select_from(func.generate_series(1, bindparam("alert_ids_wanted", type_=Integer)))
             .scalar_subquery())
    made = select(func.json_agg(func.json_build_array(*claimed.c), type_=JSON).label("claimed"),
                  drawn.label("alert_ids")).subquery("claims_made")
    return with_alerts_and_people(select(made.c.claimed, made.c.alert_ids, *DEVICE_ENTITIES)
                                  .select_from(made)
                                  .outerjoin(Device, IS_LISTED))


@dataclass
class ClaimRead:
    """The keys claimed (with their new row ids), the devices' rows (`DeviceRows.of`), and
    alert ids drawn for the alerts the batch opens."""

    claimed: dict[InboundKey, int]
    rows: Sequence[Row[Any]]
    alert_ids: list[int]


async def claim_and_read(session: AsyncSession, claims: dict[InboundKey, ClaimedValues],
                         device_ids: list[str], *, now: datetime) -> ClaimRead:
    """Claim the keys and read the devices; draw an alert id per alarm claimed."""
    params = _CLAIMS.params(session.get_bind().dialect, claim_values(claims, now=now))
    alarms = sum(channel == Channel.ALARM.value for _, channel, _ in claims)
    rows = (await session.exec(_statement(), params={  # type: ignore[call-overload]
        **params, "device_ids": device_ids, "alert_ids_wanted": alarms})).all()
    made = rows[0].claimed if rows else None
    if isinstance(made, str):
        made = json.loads(made)
    claimed = {(d, c, m): i for i, d, c, m in made or ()}
    return ClaimRead(claimed, rows, list(rows[0].alert_ids or ()) if rows else [])
