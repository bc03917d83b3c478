"""Many rows as one bind parameter per column, to join an UPDATE to: `UPDATE … FROM <rows>`.

The SQL text does not depend on how many rows there are, so a statement is built and compiled
once and asyncpg prepares it once. PostgreSQL: `unnest(:a, :b, …) AS name(a, b, …)` over arrays;
SQLite (≥ 3.38 for `->>`; UPDATE … FROM needs ≥ 3.33): `json_each` over one JSON array of rows,
each value already in the form the column's type stores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    ColumnClause,
    ColumnElement,
    FromClause,
    bindparam,
    column,
    func,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine


@dataclass(frozen=True)
class RowSet:
    """A named set of rows with typed columns: `source(dialect)` to build a statement with,
    `params(dialect, rows)` to execute it with."""

    name: str
    columns: tuple[tuple[str, TypeEngine[Any]], ...]

    def source(self, dialect: str) -> FromClause:
        """The FROM item: its columns are `.c.<name>`."""
        if dialect == "postgresql":
            arrays = [bindparam(f"{self.name}_{col}", type_=ARRAY(type_)) for col, type_ in self.columns]
            return (func.unnest(*arrays)
                    .table_valued(*(column(col, type_) for col, type_ in self.columns))
                    .render_derived(name=self.name))
        value: ColumnClause[Any] = literal_column("value")
        return (select(*(type_coerce(value.op("->>")(f"$[{i}]"), type_).label(col)
                         for i, (col, type_) in enumerate(self.columns)))
                .select_from(func.json_each(bindparam(f"{self.name}_rows")))
                .subquery(self.name))

    def params(self, dialect: Dialect, rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
        """The bind values for `rows` (one tuple per row, in the order of the columns)."""
        if dialect.name == "postgresql":
            return {f"{self.name}_{col}": [r[i] for r in rows]
                    for i, (col, _) in enumerate(self.columns)}
        processors = [type_.dialect_impl(dialect).bind_processor(dialect) for _, type_ in self.columns]
        stored = [[p(v) if p is not None else v for p, v in zip(processors, r, strict=True)]
                  for r in rows]
        return {f"{self.name}_rows": json.dumps(stored)}


def unindexed(col: Column[Any], dialect: str) -> ColumnElement[Any]:
    """`col` in a filter that must not drive the join (SQLite's unary `+`): without it SQLite
    walks an index on e.g. the status and scans the row set for every row it finds, instead of
    looking each row of the set up by its key."""
    if dialect == "postgresql":
        return col
    return literal_column(f"+{col.table.name}.{col.name}", col.type)
