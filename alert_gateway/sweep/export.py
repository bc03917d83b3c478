"""A sweep's residents as a CSV file: what the supervisor exports from the console, prints, or
fetches through the API (one builder for both). Its labels are the console's (its catalogue
and time format), so the API's file is the console's file."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import datetime

from aiohttp import web

from ..csvfile import start_csv
from ..db.engine import SessionFactory
from ..i18n import Translator
from ..timefmt import local
from . import views
from .views import WENT, Row

HEADER = ("rank", "resident_id", "name", "address", "phone", "at_risk", "state", "state_label",
          "tries", "alert_id", "answered_at", "answered_by", "who_went")
# Residents read and sent at a time: a city's 10,000 read at once held the event loop for
# 0.5-0.8 s (alarms waiting behind it); 200 hold it for tens of ms, the file streams on.
PAGE = 200

Label = Callable[[str, str], str]  # (prefix, value) -> the operator's label


def csv_rows(rows: list[Row], *, label: Label, when: Callable[[datetime | None], str]) -> list[list[str]]:
    """One row per resident, in the order given; `answered_by` says whether the answer came by
    the call or the SMS link; `who_went` names contacts who accepted or arrived, with their
    state."""
    out = []
    for row in rows:
        e = row.entry
        went = "; ".join(f"{r.name} ({label('relation', r.relation)}, {label('state', r.state)})"
                         for r in row.responders if r.state in WENT)
        out.append([str(e.rank), e.resident_id, row.name, row.address or "", row.phone or "",
                    "1" if e.at_risk else "0", e.state, label("sweep_entry", e.state),
                    str(e.tries), str(e.alert_id or ""), when(e.answered_at),
                    e.answered_by or "", went])
    return out


def _lines(rows: Sequence[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


async def stream_csv(request: web.Request, sessions: SessionFactory, *, sweep_id: int,
                     language: str, zone: str) -> web.StreamResponse:
    """The file, every resident in call order, read and sent PAGE at a time: labels in
    `language`, times in the centre's zone. The caller has checked the sweep exists."""
    response = await start_csv(request, f"sweep-{sweep_id}.csv")
    await response.write(_lines([HEADER]))
    label, when = Translator(language).maybe, (lambda at: local(at, zone))
    offset = 0
    while True:
        async with sessions() as session:  # each page its own read: no transaction held open
            page = await views.rows(session, sweep_id=sweep_id, limit=PAGE, offset=offset)
        if page:
            await response.write(_lines(csv_rows(page, label=label, when=when)))
        if len(page) < PAGE:
            break
        offset += PAGE
    await response.write_eof()
    return response
