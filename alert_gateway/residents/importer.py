"""Import residents, contacts and devices from the YAML or CSV files cities keep.

Load, decide, apply: `parse_file` reads and validates the whole file with no database, and
`import_file` writes only a file without a single error, in one transaction. Residents are
matched by id, devices by id, contacts by (resident, phone), so importing twice changes nothing.
Formats: the YAML nests contacts and devices under each resident (config/demo/residents.yaml);
the CSV columns are described in `sources`.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.audit import AuditAction
from ..errors import InvalidInput
from ..privacy import audit
from . import service
from .phones import normalize_phone
from .schemas import ResidentImport
from .sources import RawFile, RowError, read_csv, read_yaml

__all__ = ["ImportErrors", "ImportReport", "RowError", "import_file", "parse_file"]

log = logging.getLogger(__name__)

_READERS = {".yaml": read_yaml, ".yml": read_yaml, ".csv": read_csv}
_SECRET_FIELDS = frozenset({"key_safe_code"})  # never echoed back in an error message


class ImportErrors(InvalidInput):
    """A file that cannot be imported; `errors` lists every problem with its line."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        shown = "; ".join(str(e) for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(f"{len(errors)} error(s), nothing imported: {shown}{more}")


@dataclass
class ImportReport:
    """What an import did, or every reason it did nothing."""

    residents_created: int = 0
    residents_updated: int = 0
    contacts_created: int = 0
    contacts_updated: int = 0
    devices_created: int = 0
    devices_updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file was imported."""
        return not self.errors

    def summary(self) -> str:
        """One line for a person or a log."""
        if self.errors:
            return f"nothing imported: {len(self.errors)} error(s); first: {self.errors[0]}"
        return (
            f"residents {self.residents_created} created, {self.residents_updated} updated; "
            f"contacts {self.contacts_created} created, {self.contacts_updated} updated; "
            f"devices {self.devices_created} created, {self.devices_updated} updated"
        )


def parse_file(path: Path) -> list[ResidentImport]:
    """Every record of a .yaml/.yml/.csv file, validated; ImportErrors lists all problems."""
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ImportErrors([RowError(0, "", f"{path.name}: expected a .yaml, .yml or .csv file")])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportErrors([RowError(0, "", f"cannot read {path}: {exc.strerror}")]) from exc
    return parse_raw(reader(_decode(data)))


def parse_raw(raw: RawFile) -> list[ResidentImport]:
    """Validate records read by `sources`; ImportErrors lists every problem, sorted by line."""
    errors = list(raw.problems)
    records: list[tuple[int, ResidentImport]] = []
    for index, item in enumerate(raw.residents):
        if not isinstance(item, dict):
            errors.append(RowError(raw.line_for((index,)), "", "a resident must be a mapping"))
            continue
        try:
            records.append((index, ResidentImport.model_validate(item)))
        except ValidationError as exc:
            errors.extend(_row_error(raw, index, e) for e in exc.errors())
    errors.extend(_duplicates(raw))
    if errors:
        raise ImportErrors(sorted(set(errors), key=lambda e: (e.line, e.field)))
    return [record for _, record in records]


async def import_file(session: AsyncSession, path: Path, *, now: datetime,
                      actor: str = "cli") -> ImportReport:
    """Import a file in one transaction (commits on success); with any error nothing is written.

    Each resident in the file gets an audit entry, committed with the import.
    """
    try:
        records = parse_file(path)
    except ImportErrors as exc:
        # Only counts and lines: the messages may quote phone numbers.
        lines = sorted({e.line for e in exc.errors})[:20]
        log.warning("residents import refused", extra={"errors": len(exc.errors), "lines": lines})
        return ImportReport(errors=exc.errors)
    report = ImportReport()
    try:
        for record in records:
            _, created = await service.upsert(session, data=record.resident(), now=now)
            report.residents_created += created
            report.residents_updated += not created
            audit.record(session, actor=actor, action=AuditAction.IMPORT, resident_id=record.id,
                         now=now, detail="created" if created else "updated")
            for device in record.devices:
                _, created = await service.upsert_device(
                    session, resident_id=record.id, data=device, now=now
                )
                report.devices_created += created
                report.devices_updated += not created
            for contact in record.contacts:
                _, created = await service.upsert_contact(
                    session, resident_id=record.id, data=contact, now=now
                )
                report.contacts_created += created
                report.contacts_updated += not created
        await session.commit()
    except Exception:
        await session.rollback()
        raise
    log.info("residents imported", extra={"summary": report.summary()})
    return report


def _decode(data: bytes) -> str:
    """UTF-8 (Excel adds a BOM), else Shift_JIS as Japanese Excel saves CSV by default."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp932", errors="replace")


def _row_error(raw: RawFile, index: int, error: ErrorDetails) -> RowError:
    loc = (index, *error["loc"])
    names = [part for part in error["loc"] if isinstance(part, str)]
    name = names[-1] if names else ""
    if error["type"] == "missing":
        message = "is required"
    elif error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling)"
    else:
        message = error["msg"]
        value = error.get("input")
        if (
            name not in _SECRET_FIELDS
            and isinstance(value, str | int | float)
            and error["type"]
            in {
                "enum",
                "string_pattern_mismatch",
                "int_parsing",
                "bool_parsing",
                "date_from_datetime_parsing",
                "date_parsing",
            }
        ):
            message = f"{message} (got {value!r})"
    return RowError(raw.line_for(loc), name, message)


def _duplicates(raw: RawFile) -> list[RowError]:
    """Ids that must be unique in the file: residents, devices, and a resident's contact phones."""
    errors: list[RowError] = []
    residents: dict[Any, int] = {}
    devices: dict[Any, int] = {}
    for index, item in enumerate(raw.residents):
        if not isinstance(item, dict):
            continue
        _first(errors, residents, item.get("id"), raw.line_for((index, "id")), "id", "resident")
        for j, device in enumerate(_dicts(item.get("devices"))):
            line = raw.line_for((index, "devices", j, "id"))
            _first(errors, devices, device.get("id"), line, "id", "device")
        phones: dict[Any, int] = {}
        for j, contact in enumerate(_dicts(item.get("contacts"))):
            line = raw.line_for((index, "contacts", j, "phone"))
            _first(errors, phones, _e164(contact.get("phone")), line, "phone", "this phone")
    return errors


def _dicts(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else []
    return [item if isinstance(item, dict) else {} for item in items]


def _e164(phone: Any) -> str | None:
    try:
        return normalize_phone(str(phone))[0] if phone else None
    except InvalidInput:
        return None  # reported by validation


def _first(
    errors: list[RowError], seen: dict[Any, int], key: Any, line: int, name: str, what: str
) -> None:
    if key is None or not isinstance(key, Hashable):
        return
    if key in seen:
        errors.append(RowError(line, name, f"{what} already given on line {seen[key]}"))
    else:
        seen[key] = line
