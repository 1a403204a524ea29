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


def report_html(report: reports.MonthlyReport, labels: Mapping[str, str] | None = None) -> str:
    """A standalone printable page (inline CSS and SVG, nothing fetched)."""
    e = html.escape

    def table(
        columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]], cls: str = ""
    ) -> str:
        head = "".join(f"<th>{e(name)}</th>" for name, _ in columns)
        body = "".join(
            "<tr>"
            + "".join(
                f'<td class="{kind}">{e(_fmt(v, kind))}</td>'
                for v, (_, kind) in zip(values, columns, strict=True)
            )
            + "</tr>"
            for values in rows
        )
        attr = f' class="{cls}"' if cls else ""
        return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    rating = table(
        reports.REPORT_COLUMNS,
        [reports.report_values(r) for r in (*report.communities, report.total)],
        "rating",  # its last row is the total
    )
    topics = table(reports.TOPIC_COLUMNS, reports.topic_rows(report, labels))
    platforms = table(reports.PLATFORM_COLUMNS, reports.platform_rows(report))
    generated = report.now.astimezone(report.overall.filters.tz)
    return f"""<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>{e(report.title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #111; }}
h1 {{ font-size: 1.4em; }} h2 {{ font-size: 1.1em; margin-top: 1.5em; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
th, td {{ border: 1px solid #999; padding: 0.25em 0.5em; }}
th {{ background: #eee; }} td.int, td.share, td.hours {{ text-align: right; }}
table.rating tbody tr:last-child td {{ font-weight: bold; }}
.note {{ color: #555; font-size: 0.9em; }}
@media print {{ body {{ margin: 0; }} svg {{ max-width: 100%; height: auto; }}
  h2 {{ break-after: avoid; }} table, svg {{ break-inside: avoid; }} }}
</style></head><body>
<h1>{e(report.title)}</h1>
<p class="note">Часовой пояс: {e(report.timezone)}. Сформирован {generated:%d.%m.%Y %H:%M}.
Учитываются только ответы сотрудников; «в срок» — доля ответов в срок среди отвеченных
и просроченных без ответа. В рейтинге оцениваются сообщества, где за месяц
не меньше {reports.RATED_MINIMUM} обращений.</p>
<h2>Рейтинг сообществ</h2>
{rating}
<h2>По площадкам</h2>
{platforms}
<h2>Обращения по темам</h2>
{topics}
{charts.svg_daily_volume(report.overall, labels)}
<h2>Время первого ответа</h2>
{charts.svg_response_time(report.overall)}
</body></html>
"""
