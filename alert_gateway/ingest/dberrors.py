"""Tell "this data cannot be stored" from "the database is not there", and describe either safely.

The two call for opposite handling: an unavailable database is retried with backoff (the broker
keeps the unacknowledged messages), while a data error repeats forever on the same rows and must be
isolated instead. Only what is known to be transient counts as unavailable; anything else a write
raises is treated as a property of the rows, so one bad message can never wedge the others.
"""

from __future__ import annotations

from sqlalchemy import exc as sa

# SQLSTATE classes of errors about the rows themselves: 22 data exception, 23 integrity violation,
# P0 a trigger (PL/pgSQL RAISE) refusing them
# (https://www.postgresql.org/docs/current/errcodes-appendix.html). asyncpg's own encoding errors
# (an int out of int32 range, a NUL) arrive as a generic DBAPIError with SQLSTATE 22000.
DATA_SQLSTATE_CLASSES = ("22", "23", "P0")


def is_unavailable(exc: BaseException) -> bool:
    """True when retrying the same rows later may succeed (connection, timeout, lock, shutdown)."""
    if isinstance(exc, OSError | TimeoutError | sa.TimeoutError | sa.DisconnectionError):
        return True
    if isinstance(getattr(exc, "orig", None), OSError | TimeoutError):
        return True
    if isinstance(exc, sa.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa.OperationalError | sa.InterfaceError):
            return True
        if isinstance(exc, sa.DataError | sa.IntegrityError):
            return False
        code = _sqlstate(exc)
        # a DBAPIError with no SQLSTATE, or another class (40 deadlock, 53 resources, 57 shutdown,
        # 42 a schema not migrated yet): the rows are not to blame, retry
        return code is None or not code.startswith(DATA_SQLSTATE_CLASSES)
    return False  # a StatementError wrapping ValueError/OverflowError, or a raw one from the driver


def describe(exc: BaseException) -> str:
    """Error class, SQLSTATE and the statement's first words; never its parameters or message.

    A driver's message can quote the offending value (`invalid input for query argument $1: …`),
    which may be personal data, so only what identifies the kind of failure is kept.
    """
    orig = exc.orig if isinstance(exc, sa.StatementError) and exc.orig is not None else exc
    driver = getattr(orig, "orig", None)  # asyncpg's own error, behind SQLAlchemy's emulated DBAPI one
    parts = [type(driver if isinstance(driver, Exception) else orig).__name__]
    code = _sqlstate(exc)
    if code:
        parts.append(f"SQLSTATE {code}")
    statement = getattr(exc, "statement", None)
    if isinstance(statement, str) and statement:
        parts.append("in " + " ".join(statement.split()[:3]))
    return " ".join(parts)


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) else None
