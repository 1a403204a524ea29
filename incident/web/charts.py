"""The statistics charts as plain SVG: no script, Russian labels, every text escaped.

Used by the statistics page and the monthly report's printable page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import date

from incident.models import TOPIC_LABELS
from incident.stats import Stats

_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
)
_W, _PLOT_H = 720, 240  # the drawing's width and the plot's height (user units)
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 16, 28, 36
# The legend sits under the plot in two columns, names in full: a long topic name wraps onto
# more lines instead of being cut. Up to ~7.6 units a character at font-size 12 (Cyrillic,
# sans-serif, measured in Chromium), so a line never runs into the next column.
_LEGEND_FONT = 12
_LEGEND_COLUMNS = 2
_LEGEND_LINE = 15
_LEGEND_CHARS = int((_W - _LEFT - _RIGHT) / _LEGEND_COLUMNS / 7.6) - 2


def _label(topic: str, labels: Mapping[str, str] | None) -> str:
    return (labels or TOPIC_LABELS).get(topic) or TOPIC_LABELS.get(topic) or topic


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude


def _nice_count_max(value: float) -> int:
    """A top for a count axis whose four grid steps are whole numbers (no "3,8 comments")."""
    step_needed = max(1.0, value / 4)
    magnitude = 10 ** math.floor(math.log10(step_needed))
    for factor in (1, 2, 2.5, 3, 4, 5, 6, 8, 10):
        step = factor * magnitude
        if step >= step_needed and float(step).is_integer():
            return int(4 * step)
    return int(40 * magnitude)


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".").replace(".", ",")


def _wrap(name: str, width: int = _LEGEND_CHARS) -> list[str]:
    """``name`` in lines of at most ``width`` characters, broken between words (a word longer
    than a line is split)."""
    lines: list[str] = []
    line = ""
    for word in name.split():
        while len(word) > width:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:width])
            word = word[width:]
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line or not lines:
        lines.append(line)
    return lines


def _frame(title: str, days: Sequence[date], top: float, unit: str) -> list[str]:
    """The title, the grid with its values and the day ticks (without the <svg> element,
    which ``_svg`` adds once the legend's height is known)."""
    e = html.escape
    plot_w, plot_h = _W - _LEFT - _RIGHT, _PLOT_H
    parts = [
        f"<title>{e(title)}</title>",
        f'<text x="{_LEFT}" y="16" font-size="13" font-weight="bold">{e(title)}</text>',
    ]
    for k in range(5):
        value = top * k / 4
        y = _TOP + plot_h - plot_h * k / 4
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot_w}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{e(_fmt(value))}</text>'
        )
    parts.append(f'<text x="4" y="{_TOP - 8}" fill="#555">{e(unit)}</text>')
    if days:
        ticks = sorted({0, len(days) - 1, *range(0, len(days), max(1, len(days) // 6))})
        for i in ticks:
            x = _LEFT + plot_w * (i + 0.5) / len(days)
            parts.append(
                f'<text x="{x:.1f}" y="{_TOP + plot_h + 14}" text-anchor="middle">'
                f"{days[i]:%d.%m}</text>"
            )
    return parts


def _legend(entries: Sequence[tuple[str, str]]) -> tuple[list[str], float]:
    """The legend under the plot, row by row in two columns, each name whole (wrapped); and
    the drawing's height with it."""
    parts = []
    column_w = (_W - _LEFT - _RIGHT) / _LEGEND_COLUMNS
    y = _TOP + _PLOT_H + _BOTTOM
    for start in range(0, len(entries), _LEGEND_COLUMNS):
        row = entries[start : start + _LEGEND_COLUMNS]
        wrapped = [_wrap(name) for name, _ in row]
        for k, ((name, colour), lines) in enumerate(zip(row, wrapped, strict=True)):
            x = _LEFT + column_w * k
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="11" height="11" fill="{colour}"/>')
            spans = "".join(
                f'<tspan x="{x + 16:.1f}" dy="{0 if n == 0 else _LEGEND_LINE}">'
                f"{html.escape(line)}</tspan>"
                for n, line in enumerate(lines)
            )
            parts.append(
                f'<text x="{x + 16:.1f}" y="{y + 10:.1f}" font-size="{_LEGEND_FONT}">'
                f"<title>{html.escape(name)}</title>{spans}</text>"
            )
        y += _LEGEND_LINE * max(len(lines) for lines in wrapped) + 5
    return parts, y + 4


def _svg(title: str, parts: list[str], height: float) -> str:
    e = html.escape
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {height:.0f}" width="{_W}" '
        f'height="{height:.0f}" role="img" aria-label="{e(title)}" font-family="sans-serif" '
        'font-size="11">'
    )
    return "\n".join([head, *parts, "</svg>"])


def svg_daily_volume(stats: Stats, labels: Mapping[str, str] | None = None) -> str:
    """Stacked bars: comments per local day, one colour per topic."""
    days = stats.days
    totals = [sum(c[i] for _, c in stats.daily_volume) for i in range(len(days))]
    top = _nice_count_max(max(totals, default=0))
    title = "Обращения по дням и темам"
    parts = _frame(title, days, top, "шт.")
    plot_w, plot_h = _W - _LEFT - _RIGHT, _PLOT_H
    width = plot_w / max(1, len(days))
    base = [0] * len(days)
    entries = []
    for n, (topic, counts) in enumerate(stats.daily_volume):
        colour = _PALETTE[n % len(_PALETTE)]
        entries.append((_label(topic, labels), colour))
        for i, count in enumerate(counts):
            if not count:
                continue
            y0 = _TOP + plot_h - plot_h * base[i] / top
            h = plot_h * count / top
            x = _LEFT + width * i
            parts.append(
                f'<rect x="{x + width * 0.1:.1f}" y="{y0 - h:.1f}" width="{width * 0.8:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>'
                f"{days[i]:%d.%m.%Y} {html.escape(_label(topic, labels))}: {count}"
                "</title></rect>"
            )
            base[i] += count
    if not stats.daily_volume:
        parts.append(f'<text x="{_LEFT + 10}" y="{_TOP + 20}">Нет обращений за период</text>')
    legend, height = _legend(entries)
    return _svg(title, parts + legend, height)


def svg_response_time(stats: Stats) -> str:
    """Lines: the daily median first-answer time, in working and in calendar hours."""
    days = stats.days
    series = (
        (
            "Медиана, рабочие часы",
            "#1f77b4",
            [r.median_working_hours for r in stats.daily_response],
        ),
        ("Медиана, календарные часы", "#ff7f0e", [r.median_hours for r in stats.daily_response]),
    )
    values = [v for _, _, s in series for v in s if v is not None]
    top = _nice_max(max(values, default=0.0))
    title = "Время первого ответа по дням"
    parts = _frame(title, days, top, "ч")
    plot_w, plot_h = _W - _LEFT - _RIGHT, _PLOT_H
    for name, colour, points in series:
        coords = []
        for i, v in enumerate(points):
            if v is None:
                continue
            x = _LEFT + plot_w * (i + 0.5) / max(1, len(days))
            y = _TOP + plot_h - plot_h * v / top
            coords.append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{colour}"><title>'
                f"{days[i]:%d.%m.%Y} {html.escape(name)}: {_fmt(v)} ч</title></circle>"
            )
        if len(coords) > 1:
            parts.append(
                f'<polyline points="{" ".join(coords)}" fill="none" stroke="{colour}" '
                'stroke-width="1.5"/>'
            )
    if not values:
        parts.append(f'<text x="{_LEFT + 10}" y="{_TOP + 20}">Нет ответов за период</text>')
    legend, height = _legend([(name, colour) for name, colour, _ in series])
    return _svg(title, parts + legend, height)
