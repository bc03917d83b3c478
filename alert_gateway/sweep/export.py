"""A sweep's residents as a CSV file: what the supervisor exports from the console, prints, or
fetches through the API (one builder for both). Its labels are the console's (its catalogue
and time format), so the API's file is the console's file."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from ..i18n import Translator
from ..timefmt import local
from .views import WENT, Row

HEADER = ("rank", "resident_id", "name", "address", "phone", "at_risk", "state", "state_label",
          "tries", "alert_id", "answered_at", "answered_by", "who_went")

Label = Callable[[str, str], str]  # (prefix, value) -> the operator's label


def csv_rows(rows: list[Row], *, label: Label, when: Callable[[datetime | None], str]) -> list[list[str]]:
    """The header, then one row per resident in call order; `answered_by` says whether the
    answer came by the call or the SMS link; `who_went` names contacts who accepted or arrived,
    with their state."""
    out = [list(HEADER)]
    for row in rows:
        e = row.entry
        went = "; ".join(f"{r.name} ({label('relation', r.relation)}, {label('state', r.state)})"
                         for r in row.responders if r.state in WENT)
        out.append([str(e.rank), e.resident_id, row.name, row.address or "", row.phone or "",
                    "1" if e.at_risk else "0", e.state, label("sweep_entry", e.state),
                    str(e.tries), str(e.alert_id or ""), when(e.answered_at),
                    e.answered_by or "", went])
    return out


def csv_response(rows: list[Row], *, sweep_id: int, language: str, zone: str) -> web.Response:
    """The file: labels in `language`, times in the centre's zone, UTF-8 with a BOM so Excel in
    Japan opens it right; never cached (it holds names and phone numbers)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(csv_rows(rows, label=Translator(language).maybe,
                                          when=lambda at: local(at, zone)))
    return web.Response(
        body=("\ufeff" + buffer.getvalue()).encode(), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="sweep-{sweep_id}.csv"',
                 "Cache-Control": "no-store"})
