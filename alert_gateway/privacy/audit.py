"""The audit log: written in the caller's transaction, read back by date range, exported as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
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


def _in_range(query: Any, *, start: datetime, end: datetime, resident_id: str | None) -> Any:
    # SQLite keeps times as UTC text without an offset: compare in UTC on both databases
    query = query.where(col(AuditEntry.at) >= start.astimezone(UTC),
                        col(AuditEntry.at) < end.astimezone(UTC))
    if resident_id:
        query = query.where(col(AuditEntry.resident_id) == resident_id)
    return query


async def extent(session: AsyncSession, *, start: datetime, end: datetime,
                 resident_id: str | None = None) -> tuple[int, int]:
    """How many entries lie in start <= at < end (optionally for one resident), and the highest
    id among them (0: none): an export holds those, not the ones written while it streams."""
    count, last = (await session.exec(_in_range(
        select(func.count(), func.coalesce(func.max(AuditEntry.id), 0)),
        start=start, end=end, resident_id=resident_id))).one()
    return int(count), int(last)


async def newest(session: AsyncSession, *, start: datetime, end: datetime,
                 resident_id: str | None = None, limit: int) -> list[AuditEntry]:
    """The `limit` newest entries of the range, newest first."""
    query = _in_range(select(AuditEntry), start=start, end=end, resident_id=resident_id)
    return list((await session.exec(
        query.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(limit))).all())


async def page(session: AsyncSession, *, start: datetime, end: datetime,
               resident_id: str | None = None, up_to: int,
               after: AuditEntry | None = None, limit: int) -> list[AuditEntry]:
    """Up to `limit` entries of the range with ids up to `up_to`, oldest first, those after
    `after` (the last of the previous page; None: from the first)."""
    query = _in_range(select(AuditEntry), start=start, end=end, resident_id=resident_id)
    query = query.where(col(AuditEntry.id) <= up_to)
    if after is not None:
        at = _utc(after.at)
        query = query.where(or_(col(AuditEntry.at) > at,
                                and_(col(AuditEntry.at) == at, col(AuditEntry.id) > after.id)))
    return list((await session.exec(
        query.order_by(col(AuditEntry.at), col(AuditEntry.id)).limit(limit))).all())


def csv_lines(rows: Sequence[AuditEntry], *, zone: str, header: bool = False) -> str:
    """The entries as CSV lines (`header`: the column names first), times in local time with
    their offset (ISO 8601)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    if header:
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
