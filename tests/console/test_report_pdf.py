"""The monthly report as a PDF: supervisors download the month's A4 page, laid out by WeasyPrint
in a child process with Debian's IPA Gothic embedded; nothing is fetched from the network."""

from __future__ import annotations

import io
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from alert_gateway.console.render import STATIC_DIR
from alert_gateway.console.report import current_month, shift_month
from alert_gateway.pdf.child import PdfFailed, render_pdf
from alert_gateway.pdf.weasy import StaticOnlyFetcher

from .conftest import SUPERVISOR, Console
from .factories import add_alert, add_resident


def embedded_fonts(reader: PdfReader) -> set[str]:
    """Base names (subset tag dropped) of the fonts embedded on any page."""
    names = set()
    for page in reader.pages:
        fonts: Any = page["/Resources"].get_object().get("/Font", {})
        for font in fonts.get_object().values():
            font = font.get_object()
            for part in [font, *(f.get_object() for f in font.get("/DescendantFonts", []))]:
                descriptor = part.get("/FontDescriptor")
                if descriptor and {"/FontFile", "/FontFile2", "/FontFile3"} & set(
                        descriptor.get_object()):
                    names.add(str(part["/BaseFont"]).split("+")[-1])
    return names


async def test_supervisor_downloads_the_months_report_as_pdf(console: Console) -> None:
    """One render: an A4 PDF named after the month, IPA Gothic embedded, the month's figures."""
    await add_resident(console.services)
    now = console.services.clock.now()
    for seconds in (20, 45, 90, 400):  # with the smoke alarm: 3 of 5 within 60 s, 4 within 180
        await add_alert(console.services, ago=timedelta(minutes=30), status="resolved",
                        outcome="ambulance",
                        acknowledged_at=now - timedelta(minutes=30, seconds=-seconds))
    await add_alert(console.services, alarm_type="smoke", ago=timedelta(minutes=20),
                    status="resolved", outcome="accidental",
                    acknowledged_at=now - timedelta(minutes=19))
    month = current_month(now, console.services.settings.timezone)
    await console.sign_in(SUPERVISOR)

    page = await (await console.client.get(f"/console/report?month={month}")).text()
    assert f'href="/console/report.pdf?month={month}"' in page and "PDFダウンロード" in page

    response = await console.client.get(f"/console/report.pdf?month={month}")
    assert response.status == 200, await response.text()
    assert response.content_type == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="alarm-report-{month}.pdf"')
    assert response.headers["Cache-Control"] == "no-store"
    pdf = await response.read()
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    assert "WeasyPrint" in str(reader.metadata.producer if reader.metadata else "")
    width, height = (float(v) for v in reader.pages[0].mediabox[2:])
    assert (round(width), round(height)) == (595, 842)  # A4 portrait, in points
    # Debian's fonts-ipafont-gothic (IPAPGothic first in the print CSS, IPAGothic after it)
    assert embedded_fonts(reader) & {"IPAexGothic", "IPAPGothic", "IPAGothic"}, embedded_fonts(reader)

    text = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in reader.pages))
    assert f"月次報告 {month}" in text, text[:500]
    assert "60.0%" in text and "80.0%" in text, text  # within 60 s, within 180 s
    assert "6:40" in text  # the 400 s alarm, listed as late
    assert "r-001" in text and "金沢 ハナ" not in text  # ids on paper, never names
    for control in ("CSVダウンロード", "PDFダウンロード", "ログアウト"):  # print CSS hides them
        assert control not in text, control
    samples = console.services.metrics.registry.get_sample_value(
        "alert_gateway_console_report_pdf_seconds_count")
    assert samples == 1


async def test_pdf_follows_the_reports_access_rules(console: Console) -> None:
    """Signed out: to the sign-in page (401 without HTML); operators: 403; a bad month: 400."""
    month = current_month(console.services.clock.now(), console.services.settings.timezone)
    path = f"/console/report.pdf?month={month}"
    response = await console.client.get(path, headers={"Accept": "text/html"},
                                        allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/console/login")
    assert (await console.client.get(path, headers={"Accept": "application/pdf"})).status == 401
    await console.sign_in()
    assert (await console.client.get(path)).status == 403
    console.client.session.cookie_jar.clear()
    await console.sign_in(SUPERVISOR)
    for bad in ("2026-13", "2026-1", shift_month(month, 0) + "x", "../etc"):
        assert (await console.client.get(f"/console/report.pdf?month={bad}")).status == 400, bad


def test_fetcher_serves_only_the_consoles_own_stylesheet() -> None:
    """console.css is read from the package; other files, other paths and the network are refused."""
    fetcher = StaticOnlyFetcher(STATIC_DIR, "/console/static/")
    css = fetcher.fetch("http://console.test/console/static/console.css")
    assert css.content_type == "text/css" and b"@media print" in css.read()
    for url in ("https://example.com/x.css", "http://169.254.169.254/latest/meta-data/",
                "http://console.test/console/static/../report.py",
                "http://console.test/console/static/%2e%2e%2freport.py",
                "http://console.test/console/static/console.js", "file:///etc/passwd",
                "http://console.test/console/static/missing.css"):
        try:
            fetcher.fetch(url)
        except ValueError:
            continue
        raise AssertionError(f"fetched {url}")


async def test_a_child_out_of_time_is_killed_and_reported() -> None:
    """Past its time limit the child is killed and PdfFailed (503) says so; no child is left."""
    children_before = _children()
    try:
        await render_pdf("<p>x</p>", base_url="http://console.test/", static_dir=STATIC_DIR,
                         url_path="/console/static/", time_limit=0.01)  # it cannot even start
    except PdfFailed as failed:
        assert failed.http_status == 503 and "longer than" in str(failed)
    else:
        raise AssertionError("a PDF in 10 ms")
    assert _children() == children_before


def _children() -> set[str]:
    """Ids of this process's child processes (Linux /proc)."""
    pid = os.getpid()
    return set(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
