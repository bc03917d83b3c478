"""The report's pictures as SVG written here (no chart library, no script, no inline style).

Colours and sizes are SVG presentation attributes, not `style=`, so the console's
Content-Security-Policy (no inline styles) lets them render, on screen, in print and in a PDF.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import pairwise

from markupsafe import Markup, escape

from ..i18n import Translator
from .report_trend import TrendPoint

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 30, 44  # room for axis labels and the legend
OK, LATE, MISSED, INK, GRID = "#1b5e20", "#7a4a00", "#b00020", "#111418", "#c9ced6"
LINE_60, LINE_180 = "#0b4fa8", "#6a1b9a"
NIGHT_HOURS = frozenset({22, 23, 0, 1, 2, 3, 4, 5})
# Time-to-acknowledge bins in seconds: the 60 s and 180 s targets are bin edges.
BINS = (0, 30, 60, 90, 120, 180, 300)


def _text(x: float, y: float, text: str, *, anchor: str = "middle", size: int = 12,
          fill: str = INK, weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{fill}" font-weight="{weight}">{escape(text)}</text>')


def _svg(chart_id: str, title: str, parts: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'aria-labelledby="{chart_id}-title" font-family="sans-serif">'
        f'<title id="{chart_id}-title">{escape(title)}</title>{"".join(parts)}</svg>'
    )


def _bars(counts: Sequence[int], labels: Sequence[str], colours: Sequence[str],
          tips: Sequence[str], *, label_every: int = 1) -> list[str]:
    """A bar chart's axes, bars (each with a hover title) and count labels."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max(max(counts, default=0), 1)
    step = plot_w / len(counts)
    base = TOP + plot_h
    parts = [f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="{INK}"/>',
             _text(LEFT - 6, TOP + 4, str(top), anchor="end"), _text(LEFT - 6, base, "0", anchor="end")]
    for i, (count, label, colour, tip) in enumerate(zip(counts, labels, colours, tips, strict=True)):
        height = plot_h * count / top
        x = LEFT + i * step + step * 0.15
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{base - height:.1f}" width="{step * 0.7:.1f}" '
                     f'height="{height:.1f}" fill="{colour}"><title>{escape(tip)}</title></rect>')
        if count:
            parts.append(_text(x + step * 0.35, base - height - 4, str(count), size=11))
        if i % label_every == 0:
            parts.append(_text(LEFT + (i + 0.5) * step, base + 16, label, size=11))
    return parts


def histogram_svg(waits: Sequence[float], unanswered: int, _: Translator) -> Markup:
    """How long alarms waited for a person: bins up to 5 minutes, then over, then never."""
    counts = [0] * len(BINS) + [unanswered]
    for wait in waits:
        counts[bisect_left(BINS[1:], wait)] += 1  # (30, 60] and the like: 60 s is within 60 s
    labels = [_("report.chart.range", low=low, high=high) for low, high in pairwise(BINS)]
    labels += [_("report.chart.over", low=BINS[-1]), _("report.never")]
    colours = [OK if high <= 60 else LATE if high <= 180 else MISSED
               for high in [*BINS[1:], math.inf]] + [MISSED]
    tips = [f"{label}: {count}" for label, count in zip(labels, counts, strict=True)]
    parts = _bars(counts, labels, colours, tips)
    parts.append(_text(LEFT, 16, _("report.chart.seconds_axis"), anchor="start", size=12))
    return _svg("chart-ack", _("report.chart.ack_title"), parts)


def hours_svg(by_hour: Sequence[int], _: Translator) -> Markup:
    """Alarms by the hour they came in, the night hours shaded (for night staffing)."""
    plot_w = WIDTH - LEFT - RIGHT
    step = plot_w / 24
    parts = [f'<rect class="night" x="{LEFT + hour * step:.1f}" y="{TOP}" width="{step:.1f}" '
             f'height="{HEIGHT - TOP - BOTTOM}" fill="#e9ecf1"/>' for hour in sorted(NIGHT_HOURS)]
    labels = [str(hour) for hour in range(24)]
    tips = [_("report.chart.hour_tip", hour=hour, count=count) for hour, count in enumerate(by_hour)]
    parts += _bars(by_hour, labels, [LINE_60] * 24, tips, label_every=3)
    parts.append(f'<rect x="{LEFT}" y="6" width="12" height="12" fill="#e9ecf1" stroke="{GRID}"/>')
    parts.append(_text(LEFT + 18, 16, _("report.chart.night"), anchor="start"))
    return _svg("chart-hours", _("report.chart.hours_title"), parts)


def trend_svg(points: Sequence[TrendPoint], _: Translator, *, target_60: float,
              target_180: float) -> Markup:
    """12 months of the shares within 60 s and 180 s, with the two targets as dashed lines."""
    shares = [v for p in points for v in (p.within_60, p.within_180) if v is not None]
    low = min([90.0] + [math.floor(v * 10) * 10.0 for v in shares])  # percent, a multiple of 10
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(points), 1)

    def y(share: float) -> float:
        return TOP + plot_h * (100 - share * 100) / (100 - low)

    parts = []
    for tick in range(int(low), 101, 2 if low >= 90 else 10):
        parts.append(f'<line x1="{LEFT}" y1="{y(tick / 100):.1f}" x2="{WIDTH - RIGHT}" '
                     f'y2="{y(tick / 100):.1f}" stroke="{GRID}"/>')
        parts.append(_text(LEFT - 6, y(tick / 100) + 4, f"{tick}%", anchor="end", size=11))
    for target, colour, label in ((target_60, LINE_60, "report.chart.target_60"),
                                  (target_180, LINE_180, "report.chart.target_180")):
        parts.append(f'<line class="target" x1="{LEFT}" y1="{y(target):.1f}" x2="{WIDTH - RIGHT}" '
                     f'y2="{y(target):.1f}" stroke="{colour}" stroke-dasharray="6 4">'
                     f'<title>{escape(_(label, target=f"{target * 100:.1f}"))}</title></line>')
    for i, point in enumerate(points):
        year, month = point.month.split("-")
        x = LEFT + (i + 0.5) * step
        parts.append(_text(x, HEIGHT - BOTTOM + 16, str(int(month)), size=11))
        if i == 0 or month == "01":
            parts.append(_text(x, HEIGHT - BOTTOM + 30, year, size=10))
    for attr, colour, key in (("within_60", LINE_60, "report.within_60"),
                              ("within_180", LINE_180, "report.within_180")):
        parts += _line(points, attr, colour, _(key), y, step)
    parts.append(_text(LEFT, 16, f"━ {_('report.within_60')}", anchor="start", fill=LINE_60))
    parts.append(_text(LEFT + 150, 16, f"━ {_('report.within_180')}", anchor="start", fill=LINE_180))
    parts.append(_text(LEFT + 300, 16, f"┅ {_('report.chart.targets')}", anchor="start"))
    return _svg("chart-trend", _("report.chart.trend_title"), parts)


def _line(points: Sequence[TrendPoint], attr: str, colour: str, name: str,
          y: Callable[[float], float], step: float) -> list[str]:
    """One share as a line broken where a month measured nothing, a dot on every month."""
    parts: list[str] = []
    run: list[str] = []
    for i, point in enumerate(points):
        share = getattr(point, attr)
        if share is None:
            parts += _polyline(run, colour)
            run = []
            continue
        x, top = LEFT + (i + 0.5) * step, y(share)
        run.append(f"{x:.1f},{top:.1f}")
        parts.append(f'<circle class="point" cx="{x:.1f}" cy="{top:.1f}" r="4" fill="{colour}">'
                     f'<title>{escape(f"{point.month} {name}: {share * 100:.1f}%")}</title></circle>')
    return parts + _polyline(run, colour)


def _polyline(run: list[str], colour: str) -> list[str]:
    if len(run) < 2:
        return []
    return [f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2"/>']
