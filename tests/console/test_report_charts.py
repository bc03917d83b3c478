"""The report's SVG pictures: well-formed, no inline style (the CSP forbids it), right bars."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from alert_gateway.console.report import shift_month
from alert_gateway.console.report_charts import histogram_svg, hours_svg, trend_svg
from alert_gateway.console.report_trend import TrendPoint, months_ending
from alert_gateway.i18n import Translator

SVG = "{http://www.w3.org/2000/svg}"


def _parsed(markup: str) -> ET.Element:
    root = ET.fromstring(markup)
    styled = [el.tag for el in root.iter() if "style" in el.attrib or el.tag == f"{SVG}style"]
    assert not styled, f"inline style would be blocked by the CSP: {styled}"
    assert root.find(f"{SVG}title") is not None  # named for screen readers
    return root


def test_histogram_bins_put_60_seconds_within_60() -> None:
    """Bars up to 5 minutes, then over, then never; 60 s falls in the 30-60 s bar."""
    root = _parsed(histogram_svg([0, 12, 60, 61, 175, 400], 2, Translator("ja")))
    tips = [bar.findtext(f"{SVG}title") for bar in root.iter(f"{SVG}rect")
            if bar.get("class") == "bar"]
    assert tips == ["0–30秒: 2", "30–60秒: 1", "60–90秒: 1", "90–120秒: 0", "120–180秒: 1",
                    "180–300秒: 0", "300秒超: 1", "応答なし: 2"]


def test_hours_has_24_bars_and_shaded_night() -> None:
    """One bar per hour of the day, the night hours shaded behind them."""
    counts = [0] * 24
    counts[3] = 4
    root = _parsed(hours_svg(counts, Translator("en")))
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert len(bars) == 24 and bars[3].findtext(f"{SVG}title") == "3:00–3:59: 4"
    assert len([r for r in root.iter(f"{SVG}rect") if r.get("class") == "night"]) == 8


def test_trend_has_both_targets_and_breaks_where_nothing_was_measured() -> None:
    """Twelve months, two dashed target lines, a line broken by an empty month."""
    months = months_ending("2026-11")
    assert months[0] == "2025-12" and months[-1] == "2026-11" and len(months) == 12
    assert shift_month("2026-01", -1) == "2025-12"
    points = [TrendPoint(m, 10, 0.99, 1.0) if m != "2026-06" else TrendPoint(m, 0, None, None)
              for m in months]
    root = _parsed(trend_svg(points, Translator("ja"), target_60=0.975, target_180=0.99))
    targets = [line.findtext(f"{SVG}title") for line in root.iter(f"{SVG}line")
               if line.get("class") == "target"]
    assert targets == ["60秒以内の目標 97.5%", "180秒以内の目標 99.0%"]
    assert len(list(root.iter(f"{SVG}polyline"))) == 4  # two shares, each broken once
    assert len([c for c in root.iter(f"{SVG}circle")]) == 22
