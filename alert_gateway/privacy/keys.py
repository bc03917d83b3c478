"""The data key: installed once per process from settings, and rotation of the sealed columns."""

from __future__ import annotations

import logging

from sqlalchemy import column, select, table, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ..db import sealed
from ..settings import Settings

log = logging.getLogger(__name__)

# Every sealed column (db/residents.py: SealedText), read and written here as raw text.
SEALED_COLUMNS = ("key_safe_code", "medical_notes", "access_notes", "risk_notes")
_RESIDENT = table("resident", column("id"), *(column(name) for name in SEALED_COLUMNS))


def install(settings: Settings) -> None:
    """Use the configured keys; a drill without one gets an ephemeral key (a restart loses it)."""
    if settings.data_key is not None:
        keys = [k for k in settings.data_key.get_secret_value().split(",") if k.strip()]
        sealed.use_keys(keys)
    elif settings.drill_mode:
        sealed.use_keys([sealed.new_key()])
    else:
        sealed.use_keys([])  # serve refuses to start (preflight); other commands fail on a write


async def rotate(engine: AsyncEngine) -> int:
    """Re-seal every sealed value with the newest key (plain text too); how many rows changed."""
    changed = 0
    async with engine.begin() as conn:
        rows = (await conn.execute(select(_RESIDENT))).all()
        for row in rows:
            values = {name: sealed.reseal(getattr(row, name)) for name in SEALED_COLUMNS
                      if getattr(row, name) is not None}
            if values:
                await conn.execute(update(_RESIDENT).where(_RESIDENT.c.id == row.id).values(values))
                changed += 1
    log.info("data key rotation done", extra={"rows": changed})
    return changed
