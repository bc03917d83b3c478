"""A sweep's residents as CSV rows: what the supervisor exports and prints."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .views import WENT, Row

HEADER = ("rank", "resident_id", "name", "address", "phone", "at_risk", "state", "state_label",
          "tries", "alert_id", "answered_at", "who_went")

Label = Callable[[str, str], str]  # (prefix, value) -> the operator's label


def csv_rows(rows: list[Row], *, label: Label, when: Callable[[datetime | None], str]) -> list[list[str]]:
    """The header, then one row per resident in call order; `who_went` names contacts who
    accepted or arrived, with their state."""
    out = [list(HEADER)]
    for row in rows:
        e = row.entry
        went = "; ".join(f"{r.name} ({label('relation', r.relation)}, {label('state', r.state)})"
                         for r in row.responders if r.state in WENT)
        out.append([str(e.rank), e.resident_id, row.name, row.address or "", row.phone or "",
                    "1" if e.at_risk else "0", e.state, label("sweep_entry", e.state),
                    str(e.tries), str(e.alert_id or ""), when(e.answered_at), went])
    return out
