"""Exports (CSV, XLSX) of incidents with their times, and the monthly report per community.

The monthly report follows the regional rating's shape: per community the number of
incidents, the answered share, the on-time share, the median first-answer time and the
overdue count (the rating only scores a community with at least ``RATED_MINIMUM`` incidents in
the month), then the volume by topic (the committee's hotline breakdown) as a table and a chart.
It renders as XLSX or CSV here, and as a printable HTML page in ``incident.web.printable``.

CSV is written for a Russian spreadsheet: UTF-8 with a BOM, ``;`` between fields and a decimal
comma. Every text cell of both formats goes through ``incident.spreadsheet``: characters a
spreadsheet file cannot hold become U+FFFD, and a cell a spreadsheet would run as a formula is
kept as text (an apostrophe first in CSV, the quote prefix in XLSX): citizens write the comments
and choose their names.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from incident import db, stats, users
from incident.models import ACTOR_LABELS, TOPIC_LABELS, UNCLASSIFIED, closed_reason_label
from incident.sources.registry import title as platform_title
from incident.spreadsheet import csv_text, readable, runs_as_formula
from incident.stats import Filters, Stats
from incident.words import month_title

if TYPE_CHECKING:
    from openpyxl.cell.cell import Cell
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

# openpyxl is imported where a workbook is written, never at import: it imports numpy when
# numpy is installed (scikit-learn brings it), and the worker and the web app import this
# module without writing any workbook.

RATED_MINIMUM = 2  # incidents a month below which the rating does not score a community

STATUS_LABELS = {"open": "ждёт ответа", "answered": "отвечено", "closed": "закрыто"}

# (key, Russian header, kind) of an exported incident; kind: text | datetime | hours | bool | int
EXPORT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id", "№", "int"),
    ("platform", "Платформа", "text"),
    ("community", "Сообщество", "text"),
    ("source", "Источник", "text"),
    ("topic", "Тема", "text"),
    ("status", "Статус", "text"),
    ("closed_reason", "Причина закрытия", "text"),
    ("author", "Автор", "text"),
    ("text", "Комментарий", "text"),
    ("opened_at", "Поступило", "datetime"),
    ("due_at", "Срок ответа", "datetime"),
    ("first_response_at", "Первый ответ", "datetime"),
    ("first_response_by", "Кто ответил", "text"),
    ("working_hours", "Время ответа, рабочие ч", "hours"),
    ("hours", "Время ответа, ч", "hours"),
    ("on_time", "В срок", "bool"),
    ("assignee", "Ответственный", "text"),
)


# ----- incident export --------------------------------------------------------------------


def export_rows(
    conn: Connection, filters: Filters, labels: Mapping[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """Incidents opened in the period (oldest first) with their times; datetimes are naive
    local times of the filters' zone (what a spreadsheet shows), hours are floats."""
    i, c = db.incidents.c, db.comments.c
    tz = filters.tz
    names = labels or TOPIC_LABELS
    where = stats.scope(filters)  # period, community, platform, topic, person
    result = conn.execution_options(yield_per=2000).execute(
        select(
            i.id,
            i.platform,
            i.community,
            i.source,
            i.topic,
            i.status,
            i.closed_reason,
            i.opened_at,
            i.due_at,
            i.first_response_at,
            i.first_response_by,
            i.response_working_seconds,
            i.response_seconds,
            i.on_time,
            i.assignee,
            c.author_name,
            c.author_id,
            c.text,
        )
        .join(db.comments, c.id == i.comment_id)
        .where(*where)
        .order_by(i.opened_at, i.id)
    )

    def local(moment: datetime | None) -> datetime | None:
        return None if moment is None else moment.astimezone(tz).replace(tzinfo=None)

    people = users.display_names(conn)

    def person(login: str | None) -> str | None:
        return None if not login else people.get(login) or ACTOR_LABELS.get(login) or login

    for r in result:
        topic = r.topic or UNCLASSIFIED
        yield {
            "id": r.id,
            "platform": platform_title(r.platform),
            "community": r.community,
            "source": r.source,
            "topic": names.get(topic, topic),
            "status": STATUS_LABELS.get(r.status, r.status),
            "closed_reason": closed_reason_label(r.closed_reason),
            "author": r.author_name or r.author_id,
            "text": r.text,
            "opened_at": local(r.opened_at),
            "due_at": local(r.due_at),
            "first_response_at": local(r.first_response_at),
            "first_response_by": person(r.first_response_by),
            "working_hours": _hours(r.response_working_seconds),
            "hours": _hours(r.response_seconds),
            "on_time": r.on_time,
            "assignee": person(r.assignee),
        }


def _hours(seconds: int | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def _csv_value(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "datetime":
        return f"{value:%d.%m.%Y %H:%M}"
    if kind == "hours" or isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    if kind == "bool":
        return "да" if value else "нет"
    return csv_text(str(value))


def write_incidents_csv(rows: Iterable[Mapping[str, Any]], out: IO[str]) -> int:
    """Write the export as CSV to a text stream (open it with newline=""). Returns rows."""
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([header for _, header, _ in EXPORT_COLUMNS])
    n = 0
    for row in rows:
        writer.writerow([_csv_value(row[key], kind) for key, _, kind in EXPORT_COLUMNS])
        n += 1
    return n


_WIDTHS = {"text": 18, "datetime": 17, "hours": 12, "bool": 8, "int": 8}


def _cell(ws: WriteOnlyWorksheet, value: Any, kind: str = "text") -> Cell:
    from openpyxl.cell import WriteOnlyCell

    if kind == "bool" and value is not None:
        value = "да" if value else "нет"
    if isinstance(value, str):
        value = readable(value)
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever the text starts with
        if runs_as_formula(value):
            cell.quotePrefix = True  # still text when someone edits it (Excel's apostrophe)
    elif kind == "datetime" and value is not None:
        cell.number_format = "DD.MM.YYYY HH:MM"
    elif kind == "hours" and value is not None:
        cell.number_format = "0.00"
    return cell


def _header(ws: WriteOnlyWorksheet, titles: Sequence[str]) -> list[Cell]:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font

    cells = []
    for title in titles:
        cell = WriteOnlyCell(ws, value=readable(title))
        cell.data_type = "s"
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cells.append(cell)
    return cells


def write_incidents_xlsx(rows: Iterable[Mapping[str, Any]], path: Path) -> int:
    """Write the export as an XLSX workbook (streamed: memory stays flat). Returns rows."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Обращения")
    for n, (key, _, kind) in enumerate(EXPORT_COLUMNS, start=1):
        width = 60 if key == "text" else _WIDTHS[kind]
        ws.column_dimensions[get_column_letter(n)].width = width
    ws.freeze_panes = "A2"
    ws.append(_header(ws, [header for _, header, _ in EXPORT_COLUMNS]))
    count = 0
    for row in rows:
        ws.append([_cell(ws, row[key], kind) for key, _, kind in EXPORT_COLUMNS])
        count += 1
    ws.auto_filter.ref = f"A1:{get_column_letter(len(EXPORT_COLUMNS))}{count + 1}"
    wb.save(path)
    return count


# ----- the monthly report -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommunityRow:
    platform: str | None  # None for the total row
    community: str | None
    source: str | None
    incidents: int
    answered: int
    answered_share: float | None
    on_time: int
    on_time_share: float | None
    median_working_hours: float | None
    p90_working_hours: float | None
    median_hours: float | None
    p90_hours: float | None
    overdue: int  # unanswered past due (at the report's ``now``)

    @property
    def rated(self) -> bool:
        return self.incidents >= RATED_MINIMUM

    @property
    def name(self) -> str:
        if self.community is None:
            return "Итого"
        page = f"{platform_title(self.platform or '')}, сообщество {self.community}"
        return page + (f" ({self.source})" if self.source else "")


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    year: int
    month: int
    timezone: str
    now: datetime
    communities: tuple[CommunityRow, ...]
    total: CommunityRow
    overall: Stats  # all the chosen communities together (topics, daily series, people)
    platforms: tuple[stats.PlatformRow, ...] = ()  # the overall figures per platform
    topics: tuple[tuple[str, Stats], ...] = ()  # the overall figures per topic, busiest first
    names: Mapping[str, str] = field(default_factory=dict)  # person -> the name to show

    @property
    def title(self) -> str:
        return f"Отчёт об ответах на обращения за {month_title(self.year, self.month)} г."


def _row(s: Stats, platform: str | None, community: str | None, source: str | None) -> CommunityRow:
    return CommunityRow(
        platform=platform,
        community=community,
        source=source,
        incidents=s.comments,
        answered=s.answered,
        answered_share=s.answered_share,
        on_time=s.on_time,
        on_time_share=s.on_time_share,
        median_working_hours=s.median_working_hours,
        p90_working_hours=s.p90_working_hours,
        median_hours=s.median_hours,
        p90_hours=s.p90_hours,
        overdue=s.overdue_unanswered,
    )


def monthly_report(
    conn: Connection,
    year: int,
    month: int,
    now: datetime,
    *,
    timezone: str = "Europe/Moscow",
    community: str | None = None,
) -> MonthlyReport:
    """The month's figures per community (of every platform), most incidents first; per
    platform, per topic and per person (the person's display name, else the login)."""
    month_filters = Filters.for_month(year, month, timezone, community=community)
    i = db.incidents.c
    where = [i.opened_at >= month_filters.start, i.opened_at < month_filters.end]
    if community is not None:
        where.append(i.community == community)
    pages = conn.execute(select(i.platform, i.community, i.source).where(*where).distinct()).all()
    rows = []
    for platform, page, source in pages:
        s = stats.compute(
            conn,
            Filters.for_month(year, month, timezone, community=page, platform=platform),
            now,
        )
        rows.append(_row(s, platform, page, source))
    rows.sort(key=lambda r: (-r.incidents, r.platform or "", r.community or ""))
    overall = stats.compute(conn, month_filters, now, people=True)
    by_platform = stats.by_platform(conn, month_filters, now, sorted({p for p, _, _ in pages}))
    topics = tuple(
        (t.topic, stats.compute(conn, replace(month_filters, topic=t.topic), now))
        for t in overall.by_topic
    )
    u = db.users.c
    staff = [p.person for p in overall.people]
    names = {p: p for p in staff}
    if staff:
        for login, shown in conn.execute(
            select(u.username, u.display_name).where(u.username.in_(staff))
        ):
            names[login] = (shown or "").strip() or login
    names.update({a.person: ACTOR_LABELS.get(a.person, a.person) for a in overall.automatic})
    return MonthlyReport(
        year=year,
        month=month,
        timezone=timezone,
        now=now,
        communities=tuple(rows),
        total=_row(overall, None, None, None),
        overall=overall,
        platforms=by_platform,
        topics=topics,
        names=names,
    )


@dataclass(frozen=True, slots=True)
class Table:
    """One table of the monthly report: an XLSX sheet and a section of the printable page.

    ``columns``: (header, kind), kind one of text, int, share, hours, date. ``total``: the
    total row (None where there is nothing to total); ``apart``: rows listed after it under
    ``apart_title``, not part of it (the automatic actors beside the staff)."""

    sheet: str
    title: str
    columns: tuple[tuple[str, str], ...]
    rows: list[list[Any]]
    total: list[Any] | None = None
    apart_title: str = ""
    apart: list[list[Any]] = field(default_factory=list)
    note: str = ""


TIMES: tuple[tuple[str, str], ...] = (
    ("Медиана, рабочие ч", "hours"),
    ("90-й перцентиль, рабочие ч", "hours"),
    ("Медиана, ч", "hours"),
    ("90-й перцентиль, ч", "hours"),
)

REPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Сообщество", "text"),
    ("Обращений", "int"),
    ("Отвечено", "int"),
    ("Доля отвеченных", "share"),
    ("В срок", "int"),
    ("Доля в срок", "share"),
    *TIMES,
    ("Просрочено", "int"),
    ("В рейтинге", "text"),
)


def report_values(row: CommunityRow) -> list[Any]:
    return [
        row.name,
        row.incidents,
        row.answered,
        row.answered_share,
        row.on_time,
        row.on_time_share,
        row.median_working_hours,
        row.p90_working_hours,
        row.median_hours,
        row.p90_hours,
        row.overdue,
        "" if row.community is None else ("да" if row.rated else f"нет (< {RATED_MINIMUM})"),
    ]


# The columns of the tables by platform and by topic: each line the month's figures with that
# platform or topic chosen as the filter, the total line those of the whole month.
FIGURE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Обращений", "int"),
    ("Отвечено", "int"),
    ("Доля отвеченных", "share"),
    ("В срок", "int"),
    ("Доля в срок", "share"),
    *TIMES,
    ("Просрочено", "int"),
    ("Переводов в личные", "int"),
    ("Перенаправлений", "int"),
)
PLATFORM_COLUMNS = (("Площадка", "text"), *FIGURE_COLUMNS)
TOPIC_COLUMNS = (("Тема", "text"), *FIGURE_COLUMNS)
PERSON_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Сотрудник", "text"),
    ("Ответов", "int"),
    ("Из них в срок", "int"),
    ("Доля в срок", "share"),
    *TIMES,
    ("Переводов в личные", "int"),
    ("Перенаправлений", "int"),
    ("Исправлений темы", "int"),
    ("На исполнении сейчас", "int"),
)


def _figures(name: str, s: Stats | stats.PlatformRow) -> list[Any]:
    overdue = s.overdue if isinstance(s, stats.PlatformRow) else s.overdue_unanswered
    return [
        name,
        s.comments,
        s.answered,
        s.answered_share,
        s.on_time,
        s.on_time_share,
        s.median_working_hours,
        s.p90_working_hours,
        s.median_hours,
        s.p90_hours,
        overdue,
        s.moves_to_private,
        s.redirects,
    ]


def _person(name: str, p: stats.PersonRow) -> list[Any]:
    return [
        name,
        p.answers,
        p.on_time,
        p.on_time_share,
        p.median_working_hours,
        p.p90_working_hours,
        p.median_hours,
        p.p90_hours,
        p.moves_to_private,
        p.redirects,
        p.corrections,
        p.open_assigned,
    ]


def platform_rows(report: MonthlyReport) -> list[list[Any]]:
    """The month's figures per platform (its Russian title), the busiest first."""
    return [_figures(platform_title(p.platform), p) for p in report.platforms]


def topic_rows(report: MonthlyReport, labels: Mapping[str, str] | None) -> list[list[Any]]:
    """The month's figures per topic (its Russian title), the busiest first."""
    names = labels or TOPIC_LABELS
    return [_figures(names.get(t, t), s) for t, s in report.topics]


def report_tables(
    report: MonthlyReport, labels: Mapping[str, str] | None = None, *, days: bool = True
) -> list[Table]:
    """Every table of the report, in order: the rating, platforms, topics, people and (with
    ``days``) the volume by day and topic."""
    overall = report.overall
    people = overall.people_total
    tables = [
        Table(
            "Рейтинг",
            "Рейтинг сообществ",
            REPORT_COLUMNS,
            [report_values(r) for r in report.communities],
            report_values(report.total) if report.communities else None,
        ),
        Table(
            "Площадки",
            "По площадкам",
            PLATFORM_COLUMNS,
            platform_rows(report),
            _figures("Итого", overall) if report.platforms else None,
        ),
        Table(
            "Темы",
            "По темам",
            TOPIC_COLUMNS,
            topic_rows(report, labels),
            _figures("Итого", overall) if report.topics else None,
        ),
        Table(
            "Сотрудники",
            "По сотрудникам",
            PERSON_COLUMNS,
            [_person(report.names.get(p.person, p.person), p) for p in overall.people],
            _person("Все сотрудники", people) if people is not None else None,
            "Не сотрудники: учитываются отдельно",
            [_person(report.names.get(a.person, a.person), a) for a in overall.automatic],
            "Ответы — первые ответы на обращения месяца. Ответы на площадке и демо-оператора "
            "входят в общие показатели отчёта, ответы обработчика — нет.",
        ),
    ]
    if days:
        topics, by_day = stats.volume_table(overall, "day")
        names = labels or TOPIC_LABELS
        tables.append(
            Table(
                "По дням",
                "Обращения по дням и темам",
                (("День", "date"), *[(names.get(t, t), "int") for t in topics], ("Всего", "int")),
                [[r.first, *r.counts, sum(r.counts)] for r in by_day],
                [
                    "Итого",
                    *[sum(r.counts[j] for r in by_day) for j in range(len(topics))],
                    sum(sum(r.counts) for r in by_day),
                ]
                if by_day
                else None,
            )
        )
    return tables


# Russian spreadsheets show these with a decimal comma and a space between thousands.
NUMBER_FORMATS = {"int": "#,##0", "share": "0.0%", "hours": "0.00", "date": "DD.MM.YYYY"}
HEADER_ROW = 3  # the title, an empty row, then the header: frozen below it


def _line(
    ws: WriteOnlyWorksheet,
    columns: Sequence[tuple[str, str]],
    values: Sequence[Any],
    bold: bool = False,
) -> list[Cell]:
    """One row of typed cells: numbers and dates as such, with their Russian formats."""
    from openpyxl.styles import Font

    cells = []
    for value, (_, kind) in zip(values, columns, strict=True):
        cell = _cell(ws, value, kind)
        if value is not None and not isinstance(value, str):
            cell.number_format = NUMBER_FORMATS.get(kind, "General")
        if bold:
            cell.font = Font(bold=True)
        cells.append(cell)
    return cells


def write_report_xlsx(
    report: MonthlyReport, path: Path, labels: Mapping[str, str] | None = None
) -> None:
    """The report as a workbook: one sheet per table, each with the report's title in row 1,
    the header in row 3 (frozen with the first column), typed cells (numbers, shares, hours
    and dates as numbers and dates with Russian formats) and the total row in bold."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    for table in report_tables(report, labels):
        ws = wb.create_sheet(table.sheet)
        for n in range(1, len(table.columns) + 1):
            ws.column_dimensions[get_column_letter(n)].width = 34 if n == 1 else 14
        ws.freeze_panes = f"B{HEADER_ROW + 1}"
        title = _cell(ws, report.title)  # the sheet's name says which table
        title.font = Font(bold=True)
        ws.append([title])
        ws.append([])
        ws.append(_header(ws, [name for name, _ in table.columns]))
        for values in table.rows:
            ws.append(_line(ws, table.columns, values))
        if table.total is not None:
            ws.append(_line(ws, table.columns, table.total, bold=True))
        if table.apart:
            ws.append([])
            ws.append([_cell(ws, table.apart_title)])
            for values in table.apart:
                ws.append(_line(ws, table.columns, values))
        if table.note:
            ws.append([])
            ws.append([_cell(ws, table.note)])
    wb.save(path)


def _csv_report_value(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "share":
        return f"{value * 100:.1f}%".replace(".", ",")
    if kind == "hours":
        return f"{value:.2f}".replace(".", ",")
    return csv_text(str(value))


def write_report_csv(report: MonthlyReport, out: IO[str]) -> None:
    """The rating table as CSV (title line, header, one line per community, the total)."""
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([report.title])
    writer.writerow([name for name, _ in REPORT_COLUMNS])
    for row in (*report.communities, report.total):
        values = zip(report_values(row), REPORT_COLUMNS, strict=True)
        writer.writerow([_csv_report_value(v, kind) for v, (_, kind) in values])


def month_of(text: str) -> tuple[int, int]:
    """``2026-10`` -> (2026, 10); ValueError with a Russian message otherwise (a month outside
    the days statistics cover, ``stats.FIRST_DAY`` .. ``stats.LAST_DAY``, too)."""
    try:
        first = date.fromisoformat(f"{text}-01")
    except ValueError:
        raise ValueError(f"{text!r}: нужен месяц в виде ГГГГ-ММ, например 2026-10") from None
    if not stats.in_range(first):
        span = f"с {stats.FIRST_DAY.year} по {stats.LAST_DAY.year} год"
        raise ValueError(f"{text!r}: нужен месяц {span}, например 2026-10")
    return first.year, first.month
