"""The monthly report as a standalone printable HTML page: its tables and both charts inline."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from incident import reports
from incident.web import charts


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "share":
        return f"{value * 100:.1f} %".replace(".", ",")
    if kind == "hours":
        return f"{value:.2f}".replace(".", ",")
    return str(value)


def _table(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]], total: Any) -> str:
    e = html.escape

    def cells(values: Sequence[Any], tag: str = "td") -> str:
        return "".join(
            f'<{tag} class="{kind}">{e(_fmt(v, kind))}</{tag}>'
            for v, (_, kind) in zip(values, columns, strict=True)
        )

    head = "".join(f"<th>{e(name)}</th>" for name, _ in columns)
    body = "".join(f"<tr>{cells(values)}</tr>" for values in rows)
    foot = f'<tfoot><tr class="total">{cells(total)}</tr></tfoot>' if total is not None else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}</table>"


def report_html(report: reports.MonthlyReport, labels: Mapping[str, str] | None = None) -> str:
    """A standalone printable page (inline CSS and SVG, nothing fetched). Each table's total
    row, where it has one, is its footer: the only bold row."""
    e = html.escape
    sections = []
    for t in reports.report_tables(report, labels, days=False):
        part = f"<h2>{e(t.title)}</h2>\n{_table(t.columns, t.rows, t.total)}"
        if t.apart:
            part += f"\n<h3>{e(t.apart_title)}</h3>\n{_table(t.columns, t.apart, None)}"
        if t.note:
            part += f'\n<p class="note">{e(t.note)}</p>'
        sections.append(part)
    body = "\n".join(sections)
    generated = report.now.astimezone(report.overall.filters.tz)
    return f"""<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>{e(report.title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #111; }}
h1 {{ font-size: 1.4em; }} h2 {{ font-size: 1.1em; margin-top: 1.5em; }} h3 {{ font-size: 1em; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
th, td {{ border: 1px solid #999; padding: 0.25em 0.5em; }}
th {{ background: #eee; }} td.int, td.share, td.hours {{ text-align: right; }}
tfoot td {{ font-weight: bold; border-top: 2px solid #333; }}
.note {{ color: #555; font-size: 0.9em; }}
@media print {{ body {{ margin: 0; }} svg {{ max-width: 100%; height: auto; }}
  h2 {{ break-after: avoid; }} table, svg {{ break-inside: avoid; }} }}
</style></head><body>
<h1>{e(report.title)}</h1>
<p class="note">Часовой пояс: {e(report.timezone)}. Сформирован {generated:%d.%m.%Y %H:%M}.
Учитываются только ответы сотрудников; «в срок» — доля ответов в срок среди отвеченных
и просроченных без ответа. В рейтинге оцениваются сообщества, где за месяц
не меньше {reports.RATED_MINIMUM} обращений.</p>
{body}
<h2>Обращения по дням и темам</h2>
{charts.svg_daily_volume(report.overall, labels)}
<h2>Время первого ответа</h2>
{charts.svg_response_time(report.overall)}
</body></html>
"""
