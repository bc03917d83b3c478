"""IN lists on the alarm path: the same rows as a plain IN, from SQL text that never changes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select
from sqlalchemy.dialects import postgresql

from alert_gateway.db.engine import make_engine
from alert_gateway.db.inlists import any_of, one_of

_ROWS = Table("inlist_row", MetaData(), Column("id", Integer, primary_key=True),
              Column("state", String(16)))
_LISTED = (select(_ROWS.c.id).where(any_of(_ROWS.c.id, "ids"), one_of(_ROWS.c.state, ["a", "b"]))
           .order_by(_ROWS.c.id))


@pytest.mark.parametrize("ids", [[], [2], [1, 2, 3, 4, 5, 6], [99]])
async def test_lists_select_what_in_selects(database_url: str, ids: list[int]) -> None:
    """A list bound at execution and a list fixed in the statement pick the rows IN would."""
    engine = make_engine(database_url)
    texts: set[str] = set()

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def seen(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if "FROM inlist_row" in sql:
            texts.add(sql)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(_ROWS.metadata.create_all)
            await conn.execute(insert(_ROWS), [{"id": i, "state": s} for i, s in
                                               enumerate(["a", "b", "c", "a", "c", "b"], start=1)])
        async with engine.connect() as conn:
            got = (await conn.execute(_LISTED, {"ids": ids})).scalars().all()
            again = (await conn.execute(_LISTED, {"ids": [*ids, 1]})).scalars().all()
    finally:
        await engine.dispose()
    assert got == [i for i in (1, 2, 4, 6) if i in ids]
    assert again == [i for i in (1, 2, 4, 6) if i in {*ids, 1}]
    if database_url.startswith("postgresql"):
        assert len(texts) == 1  # whatever the list's length: prepared once


def test_postgresql_binds_the_list_as_one_array() -> None:
    """On PostgreSQL the statement's text holds one array parameter and each fixed value once."""
    sql = str(_LISTED.compile(dialect=postgresql.asyncpg.dialect()))
    assert "= ANY ($1::INTEGER[])" in sql
    assert "inlist_row.state IN ($2::VARCHAR, $3::VARCHAR)" in sql
    assert "POSTCOMPILE" not in sql
