"""The monthly report page and its CSV and PDF exports (supervisors)."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from markupsafe import Markup

from ..appkeys import SERVICES
from ..errors import InvalidInput
from ..i18n import Translator
from ..pdf.child import render_pdf
from ..timefmt import duration, local
from .auth import require_supervisor
from .keys import PDF_RENDERS
from .render import STATIC_DIR, render, render_html, translator
from .report import TARGET_60, TARGET_180, MonthlyReport, current_month, monthly_report, shift_month
from .report_charts import histogram_svg, hours_svg, trend_svg
from .report_trend import monthly_trend

log = logging.getLogger(__name__)
PDF_TIME_LIMIT = 120.0  # seconds; a month renders in about one on a loaded 2-core machine
_MONTH = re.compile(r"(19|2[01])[0-9]{2}-(0[1-9]|1[0-2])")  # ASCII digits, years 1900-2199


def _month(request: web.Request) -> str:
    """The month asked for; the current one (in the centre's zone) when none is."""
    require_supervisor(request)
    services = request.app[SERVICES]
    month = request.query.get("month") or current_month(services.clock.now(),
                                                        services.settings.timezone)
    if not _MONTH.fullmatch(month):
        raise InvalidInput("month must look like 2026-11")
    return month


async def _load(request: web.Request) -> MonthlyReport:
    services = request.app[SERVICES]
    month = _month(request)
    return await monthly_report(services.sessions, month=month, zone=services.settings.timezone,
                                now=services.clock.now())


@dataclass(frozen=True)
class Charts:
    """The report's three pictures, as SVG markup ready for the page."""

    trend: Markup
    ack: Markup
    hours: Markup


async def _page_values(request: web.Request) -> dict[str, Any]:
    """What report.html shows for the month asked for."""
    services = request.app[SERVICES]
    report = await _load(request)
    trend = await monthly_trend(services.sessions, month=report.month,
                                zone=services.settings.timezone, now=services.clock.now())
    _ = translator(request)
    charts = Charts(trend_svg(trend, _, target_60=TARGET_60, target_180=TARGET_180),
                    histogram_svg(report.waits, report.unanswered, _),
                    hours_svg(report.by_hour, _))
    this_month = current_month(services.clock.now(), services.settings.timezone)
    later = shift_month(report.month, 1)
    return {"report": report, "target_60": TARGET_60, "target_180": TARGET_180, "trend": trend,
            "charts": charts, "earlier": shift_month(report.month, -1),
            "later": later if later <= this_month else None}


async def report_page(request: web.Request) -> web.Response:
    """GET /console/report?month=YYYY-MM: the current month unless another is asked for."""
    return render(request, "report.html", **await _page_values(request))


async def report_pdf(request: web.Request) -> web.Response:
    """GET /console/report.pdf?month=YYYY-MM: the same page on A4, laid out in a child process."""
    values = await _page_values(request)
    month = values["report"].month
    html = render_html(request, "report.html", **values)
    base_url = str(request.url.with_path("/console/report").with_query(None))
    async with request.app[PDF_RENDERS]:  # one at a time: each takes a core for a second or so
        started = time.perf_counter()
        pdf = await render_pdf(html, base_url=base_url, static_dir=STATIC_DIR,
                               url_path="/console/static/", time_limit=PDF_TIME_LIMIT)
    seconds = time.perf_counter() - started
    request.app[SERVICES].metrics.report_pdf_seconds.observe(seconds)
    log.info("report PDF rendered", extra={"month": month, "seconds": round(seconds, 3),
                                           "bytes": len(pdf)})
    return web.Response(
        body=pdf, content_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="alarm-report-{month}.pdf"',
                 "Cache-Control": "no-store"},
    )


def _share(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def report_rows(report: MonthlyReport, _: Translator, zone: str) -> list[list[str]]:
    """The report as CSV rows: section, item, value, detail."""
    rows = [["section", "item", "value", "detail"], ["month", report.month, "", ""]]
    rows += [["by_type", _.maybe("type", k), str(v), k] for k, v in sorted(report.by_type.items())]
    rows += [["by_type_accidental", _.maybe("type", k), str(v), k]
             for k, v in sorted(report.accidental_by_type.items())]
    rows += [["by_outcome", _.maybe("outcome", k), str(v), k]
             for k, v in sorted(report.by_outcome.items())]
    rows += [["apart", "accidental", str(report.accidental), ""],
             ["apart", "test", str(report.tests), ""],
             ["response", "measured", str(report.measured), ""],
             ["response", "median_seconds", "" if report.median_seconds is None
              else f"{report.median_seconds:.0f}", ""],
             ["response", "p90_seconds", "" if report.p90_seconds is None
              else f"{report.p90_seconds:.0f}", ""],
             ["response", "within_60_percent", _share(report.within_60), f"target {TARGET_60:.1%}"],
             ["response", "within_180_percent", _share(report.within_180),
              f"target {TARGET_180:.1%}"]]
    rows += [["over_3_minutes", f"#{late.alert.id}", duration(late.seconds) or "-",
              f"{local(late.alert.opened_at, zone)} {late.alert.type} {late.alert.resident_id or ''}"]
             for late in report.late]
    rows += [["few_responders", r.id, str(count), ""] for r, count in report.few_responders]
    rows += [["no_test_31_days", r.id, local(last, zone, "%Y-%m-%d") if last else "-", ""]
             for r, last in report.no_recent_test]
    wellbeing = report.wellbeing
    rows += [["wellbeing", "calls", str(wellbeing.calls), ""],
             ["wellbeing", "answered_percent", _share(wellbeing.answered_share), ""]]
    rows += [["wellbeing_never_reached", r.id, local(checkin, zone, "%Y-%m-%d %H:%M") if checkin
              else "-", "last device check-in"] for r, checkin in wellbeing.never_reached]
    return rows


async def report_csv(request: web.Request) -> web.Response:
    """GET /console/report.csv?month=YYYY-MM: UTF-8 with BOM so Excel in Japan opens it right."""
    report = await _load(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(report_rows(report, translator(request),
                                 request.app[SERVICES].settings.timezone))
    body = "\ufeff" + buffer.getvalue()
    return web.Response(
        body=body.encode(), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="alarm-report-{report.month}.csv"',
                 "Cache-Control": "no-store"},
    )


def add_routes(app: web.Application) -> None:
    """Register the report routes."""
    app.router.add_get("/console/report", report_page)
    app.router.add_get("/console/report.csv", report_csv)
    app.router.add_get("/console/report.pdf", report_pdf)
    app[PDF_RENDERS] = asyncio.Semaphore(1)
