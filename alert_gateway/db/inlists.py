"""IN lists whose SQL text is fixed when the statement is compiled, so running it renders nothing.

SQLAlchemy turns `column.in_(list)` and `bindparam(..., expanding=True)` into one "post-compile"
parameter: every execution re-renders the statement's text for the list's length (≈ 75 µs per
statement, ≈ 2.6 % of the gateway's CPU at 10 alarms/s, where an alarm runs ~6 such reads).
`any_of` passes a list given at execution as one PostgreSQL array (`= ANY($1)`); `one_of` gives
each value of a list known when the statement is built its own bound parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Boolean, ColumnElement, any_, bindparam, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import coercions, roles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal


class _AnyOf(ColumnElement[bool]):
    """`column` is one of the list bound to `name` at execution."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a comparison: no `= 1` after it where booleans are integers
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),  # noqa: RUF012 (SQLAlchemy's)
                           ("name", InternalTraversal.dp_string)]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


@compiles(_AnyOf)
def _expanding(element: _AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(_AnyOf, "postgresql")
def _array(element: _AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    array = bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == any_(array), **kw)


def any_of(column: Any, name: str) -> ColumnElement[bool]:
    """`column IN (<the list bound to name>)`: PostgreSQL `column = ANY(:name)` (one array,
    asyncpg prepares the statement once for every length), elsewhere an expanding IN."""
    return _AnyOf(coercions.expect(roles.ExpressionElementRole, column), name)


def one_of(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN (v1, v2, …)` for values fixed when the statement is built."""
    element = coercions.expect(roles.ExpressionElementRole, column)
    return element.in_([literal(value, element.type) for value in values])
