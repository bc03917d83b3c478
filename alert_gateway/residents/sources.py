"""Read a residents file (YAML or CSV) into plain nested records, remembering each value's line.

CSV columns (header row first; order free; blank cells mean "not given"):

- ``record``: ``resident``, ``contact`` or ``device`` (a row whose record starts with ``#`` is
  a comment);
- ``resident_id``: the resident a contact or device belongs to (on a resident row it may stand
  in for ``id``); it must have a resident row in the same file;
- ``id``: the resident's id on a resident row, the device's id on a device row;
- resident rows: ``name kana address phone phone_type language date_of_birth medical_notes gp
  gp_phone oxygen_in_home bed_bound no_nearby_contact home_care property_type access_notes
  key_safe_location key_safe_code risk_notes notes activity_watch_hours away active``;
- contact rows: ``name relation phone phone_type priority language channels availability
  active`` (channels ``sms,voice`` or ``voice``; a landline defaults to ``voice``);
- device rows: ``kind location heartbeat_interval active``.

A filled cell in a column that does not apply to the row's record is an error. Line numbers
count from the header (line 1). Files are UTF-8 (with or without BOM) or Shift_JIS (cp932),
as Japanese Excel saves them. See config/examples/residents.csv.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

from .schemas import ContactIn, DeviceIn, ResidentIn

Loc = tuple[int | str, ...]

# Read as written: YAML 1.1 would turn an unquoted key-safe code 0123 into the integer 83
# and +81762201111 into an integer without its plus.
_RAW_KEYS = frozenset({"id", "resident_id", "phone", "key_safe_code", "firmware"})
_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})

_KINDS = ("resident", "contact", "device")
_FIELDS: dict[str, frozenset[str]] = {
    "resident": frozenset(ResidentIn.model_fields),
    "contact": frozenset(ContactIn.model_fields),
    "device": frozenset(DeviceIn.model_fields),
}
CSV_COLUMNS = frozenset({"record", "resident_id"}).union(*_FIELDS.values())


class RowError(NamedTuple):
    """One problem in an import file: where it is and how to fix it."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass
class RawFile:
    """Resident records as plain data, the line of each value, and problems found while reading."""

    residents: list[Any] = field(default_factory=list)
    lines: dict[Loc, int] = field(default_factory=dict)
    problems: list[RowError] = field(default_factory=list)

    def line_for(self, loc: Loc) -> int:
        """The line of the value at loc, or of the nearest enclosing value that has one."""
        for end in range(len(loc), -1, -1):
            if (line := self.lines.get(loc[:end])) is not None:
                return line
        return 0


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader that records the line of every mapping and key, and reports duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[RowError] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain value", key_node.start_mark
                )
            if key in mapping:
                self.duplicates.append(
                    RowError(key_node.start_mark.line + 1, str(key), "this key appears twice")
                )
            if key in _RAW_KEYS and value_node.tag in _NUMBER_TAGS:
                mapping[key] = value_node.value
            else:
                mapping[key] = self.construct_object(value_node, deep=deep)
            lines[key] = key_node.start_mark.line + 1
        mapping["__line__"] = node.start_mark.line + 1
        mapping["__lines__"] = lines
        return mapping


def read_yaml(text: str) -> RawFile:
    """Records from `residents: [...]` (or a bare list), each with nested contacts and devices."""
    loader = _LineLoader(text)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        return RawFile(problems=[RowError(mark.line + 1 if mark else 0, "", f"YAML: {problem}")])
    finally:
        loader.dispose()
    raw = RawFile(problems=list(loader.duplicates))
    lines: dict[Loc, int] = {}
    document = _strip_lines(document, (), lines)
    if isinstance(document, dict):
        for key in document.keys() - {"residents"}:
            raw.problems.append(RowError(lines.get((key,), 0), str(key), "unknown top-level key"))
        document = document.get("residents") or []
        lines = {loc[1:]: line for loc, line in lines.items() if loc[:1] == ("residents",)}
    if not isinstance(document, list):
        raw.problems.append(RowError(1, "residents", "expected a list of residents"))
        return raw
    raw.residents, raw.lines = document, lines
    return raw


def _strip_lines(value: Any, loc: Loc, lines: dict[Loc, int]) -> Any:
    """Move the loader's line marks out of the data into `lines`."""
    if isinstance(value, dict):
        if (line := value.pop("__line__", None)) is not None:
            lines[loc] = line
        for key, key_line in value.pop("__lines__", {}).items():
            lines[(*loc, key)] = key_line
        return {key: _strip_lines(item, (*loc, key), lines) for key, item in value.items()}
    if isinstance(value, list):
        return [_strip_lines(item, (*loc, index), lines) for index, item in enumerate(value)]
    return value


@dataclass
class _Row:
    line: int
    values: dict[str, str | None]


def read_csv(text: str) -> RawFile:
    """Records from one row per resident, contact or device, grouped under their resident."""
    raw = RawFile()
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower().replace(" ", "_") for h in next(reader, [])]
    for column in header:
        if column and column not in CSV_COLUMNS:
            raw.problems.append(RowError(1, column, "unknown column (check the spelling)"))
    if "record" not in header:
        raw.problems.append(RowError(1, "record", "the record column is missing"))
        return raw
    rows: dict[str, list[_Row]] = {kind: [] for kind in _KINDS}
    last_line = reader.line_num
    for cells in reader:
        line, last_line = last_line + 1, reader.line_num
        values = {h: (c.strip() or None) for h, c in zip(header, cells, strict=False) if h}
        kind = (values.pop("record", None) or "").lower()
        if kind.startswith("#") or not (kind or any(values.values())):
            continue
        if kind not in rows:
            raw.problems.append(
                RowError(line, "record", f"must be resident, contact or device (got {kind!r})")
            )
            continue
        misplaced = [c for c, v in values.items() if v and c not in _FIELDS[kind] | {"resident_id"}]
        for column in misplaced:
            raw.problems.append(RowError(line, column, f"does not apply to a {kind} row"))
        if not misplaced:
            allowed = _FIELDS[kind] | {"resident_id"}
            rows[kind].append(_Row(line, {c: v for c, v in values.items() if c in allowed}))
    _group(rows, raw)
    return raw


def _group(rows: dict[str, list[_Row]], raw: RawFile) -> None:
    """Nest contact and device rows under their resident row."""
    index: dict[str, int] = {}
    for row in rows["resident"]:
        values = dict(row.values)
        owner = values.pop("resident_id", None)
        if owner and values.get("id") and owner != values["id"]:
            raw.problems.append(RowError(row.line, "resident_id", "differs from id on this row"))
            continue
        values["id"] = values.get("id") or owner
        if values["id"] in index:
            first = raw.lines[(index[values["id"]],)]
            raw.problems.append(RowError(row.line, "id", f"resident already on line {first}"))
            continue
        if values["id"]:
            index[values["id"]] = len(raw.residents)
        _add(raw, (len(raw.residents),), row.line, values)
        raw.residents.append(values | {"contacts": [], "devices": []})
    for kind, key in (("contact", "contacts"), ("device", "devices")):
        for row in rows[kind]:
            values = dict(row.values)
            owner = values.pop("resident_id", None)
            if owner is None or owner not in index:
                message = "is required" if owner is None else f"no resident row for {owner!r}"
                raw.problems.append(RowError(row.line, "resident_id", message))
                continue
            children = raw.residents[index[owner]][key]
            _add(raw, (index[owner], key, len(children)), row.line, values)
            children.append(values)


def _add(raw: RawFile, loc: Loc, line: int, values: dict[str, Any]) -> None:
    raw.lines[loc] = line
    for column in values:
        raw.lines[(*loc, column)] = line
