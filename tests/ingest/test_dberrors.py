"""Which write errors are the rows' fault (isolate them) and which the database's (retry), said safely."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa

from alert_gateway.ingest.dberrors import describe, is_unavailable

STATEMENT = "INSERT INTO alert (resident_id, device_id) VALUES ($1, $2)"
PARAMS = {"resident_id": "山田 花子", "device_id": "pendant-1"}


class _DriverError(Exception):
    """What asyncpg's errors look like through SQLAlchemy's adapter: a message and a SQLSTATE."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _dbapi(sqlstate: str | None, cls: type[sa.DBAPIError] = sa.DBAPIError, **kw: bool) -> sa.DBAPIError:
    orig = _DriverError("invalid input for query argument $1: '山田 花子'", sqlstate)
    return cls(STATEMENT, PARAMS, orig, **kw)


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (_dbapi("22021"), False),  # a NUL byte (asyncpg, PostgreSQL)
        (_dbapi("22000"), False),  # an int out of int32 range, refused by asyncpg itself
        (_dbapi("23503", sa.IntegrityError), False),  # a foreign key
        (sa.IntegrityError(STATEMENT, PARAMS, Exception("UNIQUE constraint failed")), False),
        (sa.StatementError("date value out of range", STATEMENT, PARAMS, OverflowError()), False),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), False),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), False),
        (_dbapi("08006"), True),  # connection failure
        (_dbapi("57P01"), True),  # admin shutdown
        (_dbapi("40P01"), True),  # deadlock: retrying the same rows succeeds
        (_dbapi("42P01"), True),  # a table missing: a schema not migrated yet, not the message
        (_dbapi(None), True),
        (_dbapi("22021", connection_invalidated=True), True),
        (sa.OperationalError(STATEMENT, PARAMS, Exception("database is locked")), True),
        (sa.InterfaceError(STATEMENT, PARAMS, Exception("connection is closed")), True),
        (ConnectionRefusedError(111, "Connection refused"), True),
        (TimeoutError(), True),
    ],
)
def test_data_errors_are_told_from_an_unavailable_database(error: BaseException, unavailable: bool) -> None:
    """Only a transient failure is retried as it stands; anything about the rows is isolated."""
    assert is_unavailable(error) is unavailable, repr(error)


def test_a_description_names_the_failure_never_the_values() -> None:
    """Class, SQLSTATE and the statement's first words; the resident's name stays out of logs and rows."""
    text = describe(_dbapi("23503", sa.IntegrityError))
    assert text == "_DriverError SQLSTATE 23503 in INSERT INTO alert"
    assert describe(OverflowError("Python int too large")) == "OverflowError"
