"""The reads on every alarm's path look residents up by key on SQLite, never scan them all.

A bracketed `resident LEFT JOIN contact` made SQLite materialise the whole join, every resident,
on each intake batch and engine step: during a 10,000-resident sweep that held the one connection
for 9 ms on average per step (bench/README.md, branch sweep10k).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.sql import Executable
from sqlmodel import SQLModel

import alert_gateway.db.models  # noqa: F401  (the tables)
from alert_gateway.escalation.steploads import _ALERTS_AND_PEOPLE, _PEOPLE
from alert_gateway.ingest.batch import _DEVICES_AND_MORE


@pytest.mark.parametrize(("statement", "params"), [
    (_DEVICES_AND_MORE, {"device_ids": ["pendant-1", "pendant-2"]}),
    (_ALERTS_AND_PEOPLE, {"alert_ids": [1, 2]}),
    (_PEOPLE, {"resident_ids": [1, 2]}),
], ids=["intake devices", "engine alerts", "people"])
def test_alarm_path_reads_search_by_key(tmp_path: Path, statement: Executable,
                                        params: dict[str, Any]) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'plans.sqlite'}")
    SQLModel.metadata.create_all(engine)
    plans: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def explain(_conn: Any, cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + sql, parameters).fetchall()
        plans.extend(row[3] for row in rows)

    with engine.connect() as conn:
        conn.execute(statement, params).fetchall()
    engine.dispose()
    scans = [step for step in plans if step.startswith(("SCAN", "MATERIALIZE"))]
    assert not scans, plans
