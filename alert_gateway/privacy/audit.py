"""The audit log: written in the caller's transaction, read back by date range, exported as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.audit import AuditAction, AuditEntry

CSV_COLUMNS = ("at", "actor", "action", "resident_id", "detail")


def record(session: AsyncSession, *, actor: str, action: AuditAction, now: datetime,
           resident_id: str | None = None, fields: Iterable[str] = (), detail: str = "") -> None:
    """Add one entry; it commits with the change it describes (or not at all)."""
    names = ",".join(sorted(fields))
    session.add(AuditEntry(at=now, actor=actor[:120], action=action.value,
                           resident_id=resident_id, detail=detail or names))


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Names of the fields whose values differ (the bookkeeping `updated_at` aside)."""
    return [name for name, value in after.items()
            if name != "updated_at" and before.get(name) != value]


async def entries(session: AsyncSession, *, start: datetime, end: datetime,
                  resident_id: str | None = None) -> list[AuditEntry]:
    """Entries with start <= at < end, oldest first, optionally for one resident."""
    # SQLite keeps times as UTC text without an offset: compare in UTC on both databases
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    query = select(AuditEntry).where(col(AuditEntry.at) >= start, col(AuditEntry.at) < end)
    if resident_id:
        query = query.where(col(AuditEntry.resident_id) == resident_id)
    return list((await session.exec(query.order_by(col(AuditEntry.at), col(AuditEntry.id)))).all())


def to_csv(rows: Sequence[AuditEntry], *, zone: str) -> str:
    """The entries as CSV, times in local time with their offset (ISO 8601)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(CSV_COLUMNS)
    local = ZoneInfo(zone)
    for row in rows:
        writer.writerow([_utc(row.at).astimezone(local).isoformat(timespec="seconds"), _cell(row.actor),
                         row.action, row.resident_id or "", _cell(row.detail)])
    return out.getvalue()


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive times that were stored as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _cell(text: str) -> str:
    """No spreadsheet formula injection through an operator or token name (OWASP CSV injection)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
