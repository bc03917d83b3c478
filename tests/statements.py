"""The SQL statements a block of code sends, for tests that pin how many round trips a path costs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@contextmanager
def statements_sent(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements sent through `engine` while the block runs, in order (BEGIN and COMMIT are
    not statements of ours: they are not listed)."""
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


def heads(statements: list[str], words: int = 2) -> list[str]:
    """Each statement's first words ("UPDATE wellbeing_call")."""
    return [" ".join(s.split()[:words]) for s in statements]
