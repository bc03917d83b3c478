"""The monthly report: counts apart, response-time shares against targets, follow-up lists, CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alert_gateway.console.report import current_month, percentile, shift_month, summarize
from alert_gateway.db.alerts import Alert

from .conftest import SUPERVISOR, Console
from .factories import add_alert, add_resident

T0 = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)  # 10:00 in Japan
ZONE = "Asia/Tokyo"


def _alert(seconds: float | None, *, type: str = "sos", outcome: str | None = "ambulance",
           severity: str = "P1") -> Alert:
    ack = T0 + timedelta(seconds=seconds) if seconds is not None else None
    return Alert(id=1, type=type, severity=severity, opened_at=T0, updated_at=T0,
                 acknowledged_at=ack, outcome=outcome, status="resolved")


def test_shares_median_and_late_list() -> None:
    """Shares count unanswered alarms as missed; over-3-minute ones are listed."""
    alerts = [_alert(s) for s in (10, 20, 30, 50, 70, 200)] + [_alert(None)]
    report = summarize("2026-11", alerts, end=T0 + timedelta(days=1), zone=ZONE)
    assert report.measured == 7
    assert report.within_60 == 4 / 7 and report.within_180 == 5 / 7
    assert report.median_seconds == 40 and report.p90_seconds == 200
    assert [late.seconds for late in report.late] == [200, None]


def test_false_alarms_count_by_type_and_apart_tests_only_apart() -> None:
    """A smoke alarm resolved as a false alarm is still a smoke alarm in the counts by type (and
    counted apart); tests are counted apart only; technical alarms are not timed."""
    alerts = [_alert(5), _alert(5, type="smoke", outcome="accidental"),
              _alert(None, type="test", outcome=None), _alert(5, outcome="test"),
              _alert(900, type="low_battery", severity="P3", outcome="technical_fault")]
    report = summarize("2026-11", alerts, end=T0 + timedelta(days=1), zone=ZONE)
    assert report.by_type == {"sos": 1, "smoke": 1, "low_battery": 1}
    assert report.accidental_by_type == {"smoke": 1} and report.by_outcome["accidental"] == 1
    assert report.accidental == 1 and report.tests == 2 and report.total == 3
    assert report.by_hour[10] == 3 and sum(report.by_hour) == 3  # by the hour in Japan
    assert report.measured == 2 and report.late == []  # the accidental P1 is still timed


def test_percentile_is_nearest_rank() -> None:
    """p90 of 1..10 is 9, of one value is that value, of nothing is None."""
    assert percentile([float(i) for i in range(1, 11)], 0.9) == 9
    assert percentile([7.0], 0.9) == 7 and percentile([], 0.9) is None


async def test_report_page_and_csv(console: Console) -> None:
    """Supervisors see the month with its lists and download it as CSV; operators may not."""
    await add_resident(console.services)
    clock_now = console.services.clock.now()
    await add_alert(console.services, ago=timedelta(minutes=10), status="resolved",
                    outcome="ambulance", acknowledged_at=clock_now - timedelta(minutes=5))
    month = current_month(clock_now, console.services.settings.timezone)
    await console.sign_in()
    assert (await console.client.get(f"/console/report?month={month}")).status == 403
    console.client.session.cookie_jar.clear()
    await console.sign_in(SUPERVISOR)
    page = await (await console.client.get("/console/report")).text()  # opens on this month
    assert f"月次報告 {month}" in page, page
    assert f'href="/console/report?month={shift_month(month, -1)}"' in page  # one click back
    late = page[page.index('id="late-alerts"'):]
    assert "<thead>" in late.split("</table>")[0] and "5:00" in late
    no_test = page[page.index('id="no-recent-test"'):].split("</ul>")[0]
    assert "r-001" in no_test and "テスト記録なし" in no_test and "応答なし" not in no_test
    for chart in ("chart-trend", "chart-ack", "chart-hours"):
        assert f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart}"' in page, chart
    response = await console.client.get(f"/console/report.csv?month={month}")
    assert response.status == 200 and response.content_type == "text/csv"
    text = (await response.read()).decode("utf-8-sig")
    assert "within_60_percent,0.0" in text and "over_3_minutes" in text
    assert "no_test_31_days,r-001" in text
    assert (await console.client.get("/console/report?month=2026-13")).status == 400


async def test_history_search(console: Console) -> None:
    """Closed alerts are found by outcome and resident; open ones are not history."""
    await add_resident(console.services)
    closed = await add_alert(console.services, status="resolved", outcome="ambulance")
    open_id = await add_alert(console.services)
    await console.sign_in()
    page = await (await console.client.get(
        "/console/history", params={"outcome": "ambulance", "resident": "金沢"})).text()
    assert f"/console/alerts/{closed}" in page and f"/console/alerts/{open_id}\"" not in page
    page = await (await console.client.get("/console/history",
                                           params={"outcome": "fire"})).text()
    assert f"/console/alerts/{closed}" not in page
