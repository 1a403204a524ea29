"""Exports and the monthly report: CSV, XLSX, the printable page and the command line.

Database tests run on SQLite and on PostgreSQL; the command-line tests on a SQLite file."""

from __future__ import annotations

import argparse
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from incident import migrate, reports, spreadsheet
from incident.commands import report as report_command
from incident.db import make_engine
from incident.stats import Filters
from incident.web import printable
from tests.world import PeopleWorld, World

MSK = ZoneInfo("Europe/Moscow")
T0 = datetime(2026, 10, 1, 10, 0, tzinfo=MSK)  # Thursday
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=MSK)
OCTOBER = Filters.for_month(2026, 10)
FORMULA = '=HYPERLINK("http://evil.example","жми")'


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)


def build_october(world: World) -> dict[str, int]:
    """Community 42: three incidents (two on time, one overdue); 43: one late answer."""
    return {
        "fast": world.incident(T0, answered_after=timedelta(hours=1)),
        "slow": world.incident(T0, answered_after=timedelta(hours=5), topic="housing"),
        "overdue": world.incident(T0 + timedelta(days=2)),
        "other": world.incident(T0, community="43", answered_after=timedelta(days=3)),
        "september": world.incident(T0 - timedelta(days=2)),
    }


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=";"))


# ----- incident export --------------------------------------------------------------------


def test_export_lists_the_period_with_local_times_and_answer_hours(world: World) -> None:
    ids = build_october(world)
    with world.engine.connect() as conn:
        rows = list(reports.export_rows(conn, OCTOBER))
    # oldest first: the three of 1 October in the order they were stored, then the 3rd
    assert [r["id"] for r in rows] == [ids[k] for k in ("fast", "slow", "other", "overdue")]
    fast = next(r for r in rows if r["id"] == ids["fast"])
    assert fast["opened_at"] == datetime(2026, 10, 1, 10, 0)  # Moscow wall-clock time
    assert fast["first_response_at"] == datetime(2026, 10, 1, 11, 0)
    assert (fast["working_hours"], fast["hours"], fast["on_time"]) == (1.0, 1.0, True)
    assert fast["topic"] == "Торговля"
    assert fast["status"] == "отвечено"
    overdue = next(r for r in rows if r["id"] == ids["overdue"])
    assert (overdue["first_response_at"], overdue["working_hours"]) == (None, None)


def test_export_filters_one_community(world: World) -> None:
    ids = build_october(world)
    with world.engine.connect() as conn:
        rows = list(reports.export_rows(conn, Filters.for_month(2026, 10, community="43")))
    assert [r["id"] for r in rows] == [ids["other"]]


def test_export_filters_a_person_and_comments_without_a_topic_like_the_statistics(
    world: World,
) -> None:
    boris = world.incident(T0, answered_after=timedelta(hours=1), by="boris")
    assigned = world.incident(T0, assignee="boris")
    untopical = world.incident(T0, topic=None)
    world.incident(T0, answered_after=timedelta(hours=1), by="anna")
    with world.engine.connect() as conn:
        mine = list(reports.export_rows(conn, Filters.for_month(2026, 10, person="boris")))
        bare = list(reports.export_rows(conn, Filters.for_month(2026, 10, topic="unclassified")))
    assert [r["id"] for r in mine] == [boris, assigned]
    assert [r["id"] for r in bare] == [untopical]


def test_csv_export_suits_a_russian_spreadsheet_and_defuses_formulas(world: World) -> None:
    world.incident(T0, answered_after=timedelta(minutes=90))
    out = io.StringIO()
    with world.engine.connect() as conn:
        rows = [{**row, "text": FORMULA} for row in reports.export_rows(conn, OCTOBER)]
    assert reports.write_incidents_csv(rows, out) == 1
    header, line = csv_rows(out.getvalue())
    assert header[0] == "№"
    assert "Время ответа, рабочие ч" in header
    values = dict(zip(header, line, strict=True))
    assert values["Время ответа, рабочие ч"] == "1,50"
    assert values["Поступило"] == "01.10.2026 10:00"
    assert values["В срок"] == "да"
    assert values["Комментарий"] == "'" + FORMULA


def test_xlsx_export_keeps_types_and_never_writes_a_formula(world: World, tmp_path: Path) -> None:
    world.incident(T0, answered_after=timedelta(hours=2))
    with world.engine.connect() as conn:
        rows = [{**row, "text": FORMULA} for row in reports.export_rows(conn, OCTOBER)]
    path = tmp_path / "export.xlsx"
    assert reports.write_incidents_xlsx(rows, path) == 1
    wb = load_workbook(path)
    ws = wb["Обращения"]
    header = [c.value for c in ws[1]]
    line = {h: c for h, c in zip(header, ws[2], strict=True)}
    assert line["Поступило"].value == datetime(2026, 10, 1, 10, 0)
    assert line["Время ответа, рабочие ч"].value == 2.0
    assert line["Комментарий"].value == FORMULA
    assert line["Комментарий"].data_type == "s"
    assert ws.freeze_panes == "A2"
    wb.close()


# What a spreadsheet would run as a formula: a sign first, after blanks or invisible characters,
# or its full-width twin; tab, CR and LF first act as separators when pasted.
RISKY = [
    "=1+1",
    "+7 (999) 000-00-00",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    " =1+1",
    "\u00a0\u3000=1+1",
    "\u200b=1+1",
    "\tтекст",
    '＝HYPERLINK("http://evil.example")',
    "＋1",
    "－1",
    "＠SUM(A1)",
]
HARMLESS = ["Магазин не вернул деньги", " просто пробел", "1+1=2", "e-mail", "Анна", ""]
# Characters an XLSX file cannot hold (openpyxl refuses them) and a readable stand-in for each.
UNWRITABLE = "Цена\x00 выросла\x01\x08\x0b\x0c\x1b\x1f!\ufffe"
READABLE = "Цена\ufffd выросла\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd!\ufffd"


@pytest.mark.parametrize("text", RISKY)
def test_a_csv_cell_a_spreadsheet_would_run_gets_an_apostrophe(text: str) -> None:
    assert spreadsheet.csv_text(text) == "'" + text


@pytest.mark.parametrize("text", HARMLESS)
def test_an_ordinary_csv_cell_is_left_as_it_is(text: str) -> None:
    assert spreadsheet.csv_text(text) == text


def test_control_characters_become_a_visible_mark_and_line_breaks_stay() -> None:
    assert spreadsheet.csv_text(UNWRITABLE) == READABLE
    assert spreadsheet.csv_text("две\tстроки\r\nтекста") == "две\tстроки\r\nтекста"
    assert spreadsheet.csv_text("\x01=1+1") == "\ufffd=1+1"  # starts with a mark now


def test_csv_export_defuses_author_names_and_control_characters(world: World) -> None:
    world.incident(T0, author_name="@Анна", text="\n=" + UNWRITABLE)
    out = io.StringIO()
    with world.engine.connect() as conn:
        assert reports.write_incidents_csv(reports.export_rows(conn, OCTOBER), out) == 1
    header, line = csv_rows(out.getvalue())
    values = dict(zip(header, line, strict=True))
    assert values["Автор"] == "'@Анна"
    assert values["Комментарий"] == "'\n=" + READABLE


def test_xlsx_export_writes_control_characters_readably_and_marks_risky_cells_as_text(
    world: World, tmp_path: Path
) -> None:
    world.incident(T0, author_name="＝Анна", text=UNWRITABLE + "\nвторая строка")
    world.incident(T0, author_name="Анна", text=" " + FORMULA)
    path = tmp_path / "export.xlsx"
    with world.engine.connect() as conn:
        assert reports.write_incidents_xlsx(reports.export_rows(conn, OCTOBER), path) == 2
    wb = load_workbook(path)
    ws = wb["Обращения"]
    header = [c.value for c in ws[1]]
    first, second = ({h: c for h, c in zip(header, row, strict=True)} for row in ws.iter_rows(2))
    assert first["Комментарий"].value == READABLE + "\nвторая строка"
    assert first["Комментарий"].quotePrefix is False
    assert (first["Автор"].value, first["Автор"].quotePrefix) == ("＝Анна", True)
    # the text as written, kept as text when someone edits the cell (Excel's leading apostrophe)
    assert (second["Комментарий"].value, second["Комментарий"].data_type) == (" " + FORMULA, "s")
    assert second["Комментарий"].quotePrefix is True
    assert second["Автор"].quotePrefix is False
    wb.close()


# ----- the monthly report -----------------------------------------------------------------


def test_monthly_report_has_the_rating_figures_per_community(world: World) -> None:
    build_october(world)
    with world.engine.begin() as conn:
        report = reports.monthly_report(conn, 2026, 10, NOW)
    assert [r.community for r in report.communities] == ["42", "43"]
    c42, c43 = report.communities
    assert (c42.incidents, c42.answered, c42.on_time, c42.overdue) == (3, 2, 2, 1)
    assert c42.on_time_share == pytest.approx(2 / 3)
    assert c42.answered_share == pytest.approx(2 / 3)
    assert c42.median_working_hours == pytest.approx(3.0)
    assert (c42.rated, c43.rated) == (True, False)
    assert (c43.on_time, c43.on_time_share) == (0, 0.0)
    total = report.total
    assert (total.incidents, total.answered, total.overdue) == (4, 3, 1)
    assert total.name == "Итого"
    assert report.title == "Отчёт об ответах на обращения за октябрь 2026 г."


def test_monthly_report_for_one_community(world: World) -> None:
    build_october(world)
    with world.engine.begin() as conn:
        report = reports.monthly_report(conn, 2026, 10, NOW, community="43")
    assert [r.community for r in report.communities] == ["43"]
    assert report.total.incidents == 1


def test_report_xlsx_has_a_sheet_per_table_with_the_header_frozen_and_typed_cells(
    world: World, tmp_path: Path
) -> None:
    build_october(world)
    with world.engine.begin() as conn:
        report = reports.monthly_report(conn, 2026, 10, NOW)
    path = tmp_path / "report.xlsx"
    reports.write_report_xlsx(report, path)
    wb = load_workbook(path)
    assert wb.sheetnames == ["Рейтинг", "Площадки", "Темы", "Сотрудники", "По дням"]
    for ws in wb.worksheets:  # the title in row 1, the header in row 3, frozen below it
        assert ws.freeze_panes == "B4", ws.title
        assert str(ws["A1"].value).startswith(report.title)
        assert ws["A3"].font.bold
    rating = [[c.value for c in row] for row in wb["Рейтинг"].iter_rows()]
    assert rating[2][:3] == ["Сообщество", "Обращений", "Отвечено"]
    assert rating[2][6:10] == [
        "Медиана, рабочие ч",
        "90-й перцентиль, рабочие ч",
        "Медиана, ч",
        "90-й перцентиль, ч",
    ]
    assert rating[3][:3] == ["ВКонтакте, сообщество 42 (vk-42)", 3, 2]
    assert rating[-1][:2] == ["Итого", 4]
    assert wb["Рейтинг"].cell(len(rating), 1).font.bold  # the total row, and only it
    assert not wb["Рейтинг"].cell(4, 1).font.bold
    share = wb["Рейтинг"]["D4"]  # the answered share: a number shown as a percentage
    assert (share.value, share.number_format) == (pytest.approx(2 / 3), "0.0%")
    hours = wb["Рейтинг"]["G4"]
    assert hours.value == pytest.approx(3.0)  # a number (of hours), not text
    assert hours.number_format == "0.00"
    topics = {r[0]: r[1] for r in [[c.value for c in r] for r in wb["Темы"].iter_rows()][3:]}
    assert topics == {"Торговля": 3, "ЖКХ": 1, "Итого": 4}
    days = [[c.value for c in r] for r in wb["По дням"].iter_rows()]
    assert days[2][0] == "День"
    assert len(days) == 3 + 31 + 1  # title, gap, header, the days, the total
    first = wb["По дням"]["A4"]  # a date cell, not text
    assert first.value == datetime(2026, 10, 1)
    assert first.number_format == "DD.MM.YYYY"
    assert sum(row[-1] for row in days[3:-1]) == 4
    assert days[-1][0] == "Итого"
    assert days[-1][-1] == 4
    wb.close()


def test_report_csv_and_printable_page(world: World) -> None:
    build_october(world)
    with world.engine.begin() as conn:
        report = reports.monthly_report(conn, 2026, 10, NOW)
    out = io.StringIO()
    reports.write_report_csv(report, out)
    lines = csv_rows(out.getvalue())
    assert lines[0] == [report.title]
    assert lines[2][:6] == ["ВКонтакте, сообщество 42 (vk-42)", "3", "2", "66,7%", "2", "66,7%"]
    assert lines[-1][0] == "Итого"
    page = printable.report_html(report)
    assert page.startswith("<!doctype html>")
    assert "<script" not in page
    assert "Рейтинг сообществ" in page
    assert "ВКонтакте, сообщество 42 (vk-42)" in page
    assert page.count("<svg") == 2
    assert "66,7 %" in page
    # each total is its table's footer, the only bold row; the per-person section is there
    assert "tr:last-child" not in page
    assert page.count("<tfoot>") == 4  # rating, platforms, topics, people
    assert '<tfoot><tr class="total"><td class="text">Итого</td>' in page
    assert "<h2>По сотрудникам</h2>" in page
    assert "90-й перцентиль, рабочие ч" in page


def test_the_report_has_the_figures_per_platform_in_xlsx_and_on_the_printable_page(
    world: World, tmp_path: Path
) -> None:
    build_october(world)  # VK: 4 incidents in October
    world.incident(T0, platform="ok", community="42", answered_after=timedelta(hours=2))
    world.incident(T0, platform="telegram", community="news_channel")
    with world.engine.begin() as conn:
        report = reports.monthly_report(conn, 2026, 10, NOW)
    path = tmp_path / "report.xlsx"
    reports.write_report_xlsx(report, path)
    wb = load_workbook(path)
    rows = [[c.value for c in r] for r in wb["Площадки"].iter_rows()]
    wb.close()
    header = [name for name, _ in reports.PLATFORM_COLUMNS]
    start = rows.index(header)
    by_title = {row[0]: row for row in rows[start + 1 :] if row[0]}
    assert set(by_title) == {"ВКонтакте", "Одноклассники", "Telegram", "Итого"}
    assert by_title["Итого"][1:3] == [6, 4]
    assert by_title["ВКонтакте"][1:3] == [4, 3]
    assert by_title["Одноклассники"][1:3] == [1, 1]
    assert by_title["Одноклассники"][8] == pytest.approx(2.0)  # median, calendar hours
    assert by_title["Telegram"][1:3] == [1, 0]
    page = printable.report_html(report)
    assert "<h2>По площадкам</h2>" in page
    assert '<td class="text">Одноклассники</td>' in page


def test_month_of_reads_year_and_month_or_explains() -> None:
    assert reports.month_of("2026-10") == (2026, 10)
    with pytest.raises(ValueError, match="ГГГГ-ММ"):
        reports.month_of("10.2026")


# ----- the command line -------------------------------------------------------------------


@pytest.fixture
def deployment(tmp_path: Path) -> tuple[Path, World]:
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "sqlite:///incident.sqlite3"\n', encoding="utf-8")
    engine = make_engine(f"sqlite:///{tmp_path / 'incident.sqlite3'}")
    migrate.upgrade(engine)
    world = World(engine)
    build_october(world)
    return config, world


def run(config: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    sub = parser.add_subparsers(dest="command", required=True)
    report_command.register(sub)
    args = parser.parse_args(["--config", str(config), *argv])
    code: int = args.handler(args)
    return code


def test_cli_report_writes_the_month_as_xlsx_by_default(
    deployment: tuple[Path, World], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, world = deployment
    monkeypatch.chdir(tmp_path)  # the default file name lands in the working directory
    try:
        assert run(config, "report", "--month", "2026-10") == 0
    finally:
        world.engine.dispose()
    wb = load_workbook(tmp_path / "report-2026-10.xlsx")
    assert wb["Рейтинг"]["A1"].value.endswith("октябрь 2026 г.")
    wb.close()


def test_cli_report_as_csv_for_one_community(
    deployment: tuple[Path, World], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, world = deployment
    out = tmp_path / "r.csv"
    try:
        code = run(
            config,
            "report",
            "--month",
            "2026-10",
            "--community",
            "43",
            "--format",
            "csv",
            "--out",
            str(out),
        )
    finally:
        world.engine.dispose()
    assert code == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM for spreadsheets
    lines = csv_rows(raw.decode("utf-8-sig"))
    assert [line[0] for line in lines[2:]] == ["ВКонтакте, сообщество 43 (vk-43)", "Итого"]
    assert "1 сообществ" in capsys.readouterr().out


def test_cli_export_writes_the_days_asked_for(
    deployment: tuple[Path, World], tmp_path: Path
) -> None:
    config, world = deployment
    out = tmp_path / "e.xlsx"
    try:
        code = run(
            config,
            "export",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-01",
            "--format",
            "xlsx",
            "--out",
            str(out),
        )
    finally:
        world.engine.dispose()
    assert code == 0
    wb = load_workbook(out)
    assert wb["Обращения"].max_row == 1 + 3  # three incidents on 1 October
    wb.close()


def test_cli_export_writes_comments_with_control_characters(
    deployment: tuple[Path, World], tmp_path: Path
) -> None:
    config, world = deployment
    world.incident(T0, text=UNWRITABLE, author_name="Анна\x07")
    out = tmp_path / "e.xlsx"
    try:
        argv = ("--from", "2026-10-01", "--to", "2026-10-01", "--format", "xlsx", "--out")
        code = run(config, "export", *argv, str(out))
    finally:
        world.engine.dispose()
    assert code == 0
    wb = load_workbook(out)
    texts = [row[8] for row in wb["Обращения"].iter_rows(min_row=2, values_only=True)]
    authors = [row[7] for row in wb["Обращения"].iter_rows(min_row=2, values_only=True)]
    assert texts[-1] == READABLE
    assert authors[-1] == "Анна\ufffd"
    wb.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "--month", "октябрь"], "нужен месяц в виде ГГГГ-ММ"),
        (["report", "--month", "2026-10", "--out", "-"], "XLSX нельзя вывести"),
        (
            [
                "export",
                "--from",
                "2026-10-31",
                "--to",
                "2026-10-01",
                "--format",
                "csv",
                "--out",
                "x.csv",
            ],
            "раньше",
        ),
        (
            [
                "export",
                "--from",
                "1 октября",
                "--to",
                "2026-10-01",
                "--format",
                "csv",
                "--out",
                "x.csv",
            ],
            "нужна дата",
        ),
        (
            [
                "export",
                "--from",
                "0001-01-01",
                "--to",
                "2026-10-01",
                "--format",
                "csv",
                "--out",
                "x.csv",
            ],
            "Выберите даты с 2000 по 2099 год",
        ),
    ],
)
def test_cli_explains_bad_arguments_in_russian(
    deployment: tuple[Path, World],
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, world = deployment
    try:
        assert run(config, *argv) == 2
    finally:
        world.engine.dispose()
    assert message in capsys.readouterr().err


def test_export_day_boundaries_are_local_midnight(world: World) -> None:
    just_before = datetime(2026, 10, 1, 20, 59, tzinfo=UTC)  # 23:59 in Moscow
    just_after = datetime(2026, 10, 1, 21, 0, tzinfo=UTC)  # 00:00 on the 2nd
    a = world.incident(just_before)
    world.incident(just_after)
    with world.engine.connect() as conn:
        rows: list[dict[str, Any]] = list(
            reports.export_rows(conn, Filters.for_days(T0.date(), T0.date()))
        )
    assert [r["id"] for r in rows] == [a]


def test_the_report_has_a_sheet_per_person_with_the_automatic_actors_apart(
    world: World, tmp_path: Path
) -> None:
    PeopleWorld(world)  # Anna 3 answers (2 on time), Vera 1; platform, worker, demo operator
    with world.engine.begin() as conn:
        report = reports.monthly_report(conn, 2026, 10, NOW)
    path = tmp_path / "report.xlsx"
    reports.write_report_xlsx(report, path)
    wb = load_workbook(path)
    rows = [[c.value for c in r] for r in wb["Сотрудники"].iter_rows()]
    wb.close()
    assert rows[2][:4] == ["Сотрудник", "Ответов", "Из них в срок", "Доля в срок"]
    assert rows[3][:3] == ["Anna", 3, 2]  # the display name, the busiest first
    assert rows[3][-1] == 2  # open incidents assigned now, September's included
    assert rows[4][:3] == ["Vera", 1, 1]
    assert rows[5][:3] == ["Все сотрудники", 4, 3]
    apart = rows[rows.index(["Не сотрудники: учитываются отдельно"] + [None] * 11) + 1 :]
    names = [r[0] for r in apart if r[0] and r[1] is not None]
    assert names == [
        "система",
        "демо-оператор (автоматически)",
        "сообщество на площадке",
    ]
