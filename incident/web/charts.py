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
_W, _H = 720, 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 200, 28, 36
_LEGEND_CHARS = 28  # ~6 px a character at font-size 11: fits the right margin


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


def _frame(title: str, days: Sequence[date], top: float, unit: str) -> list[str]:
    e = html.escape
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" '
        f'height="{_H}" role="img" aria-label="{e(title)}" font-family="sans-serif" '
        'font-size="11">',
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
                f'<text x="{x:.1f}" y="{_H - _BOTTOM + 14}" text-anchor="middle">'
                f"{days[i]:%d.%m}</text>"
            )
    return parts


def _legend(entries: Sequence[tuple[str, str]]) -> list[str]:
    parts = []
    for i, (name, colour) in enumerate(entries):
        y = _TOP + 14 * i
        x = _W - _RIGHT + 12
        parts.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{colour}"/>')
        shown = name if len(name) <= _LEGEND_CHARS else name[: _LEGEND_CHARS - 1] + "…"
        parts.append(
            f'<text x="{x + 14}" y="{y + 9}"><title>{html.escape(name)}</title>'
            f"{html.escape(shown)}</text>"
        )
    return parts


def svg_daily_volume(stats: Stats, labels: Mapping[str, str] | None = None) -> str:
    """Stacked bars: comments per local day, one colour per topic."""
    days = stats.days
    totals = [sum(c[i] for _, c in stats.daily_volume) for i in range(len(days))]
    top = _nice_count_max(max(totals, default=0))
    parts = _frame("Обращения по дням и темам", days, top, "шт.")
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
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
    parts += _legend(entries)
    parts.append("</svg>")
    return "\n".join(parts)


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
    parts = _frame("Время первого ответа по дням", days, top, "ч")
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
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
    parts += _legend([(name, colour) for name, colour, _ in series])
    parts.append("</svg>")
    return "\n".join(parts)
