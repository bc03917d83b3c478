"""Triggers that make the real database refuse chosen rows, as a constraint violation would."""

from __future__ import annotations

from sqlalchemy import text

from alert_gateway.db.engine import make_engine


def refuse(url: str, table: str, condition: str, *, on: str = "INSERT") -> list[str]:
    """DDL for a trigger refusing `on` (INSERT/UPDATE) of `table` rows matching `condition` (NEW.*)."""
    name = f"refuse_{table}"
    if url.startswith("sqlite"):  # RAISE(ABORT) is SQLITE_CONSTRAINT: sqlite3.IntegrityError
        return [f"CREATE TRIGGER {name} BEFORE {on} ON {table} WHEN {condition} "
                "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END"]
    return [
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF {condition} THEN RAISE EXCEPTION 'violates foreign key constraint' "
        "USING ERRCODE = 'foreign_key_violation'; END IF; RETURN NEW; END $$",
        f"CREATE TRIGGER {name} BEFORE {on} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()",
    ]


async def execute(url: str, statements: list[str]) -> None:
    """Run DDL in one transaction on its own engine."""
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def allow(url: str, table: str) -> None:
    """Drop the trigger `refuse` made on `table`."""
    on = "" if url.startswith("sqlite") else f" ON {table}"
    await execute(url, [f"DROP TRIGGER refuse_{table}{on}"])
