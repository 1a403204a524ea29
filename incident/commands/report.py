"""``incident report`` (the monthly report per community) and ``incident export`` (incidents).

``report --month 2026-10 [--community ID] [--format xlsx|csv|html] [--out PATH]``
``export --from 2026-10-01 --to 2026-10-31 --format csv|xlsx --out PATH [--community ID]``

Days are local days in the deployment's time zone (``[sla] timezone``). ``--out -`` writes CSV
or HTML to standard output. Without ``--out`` the report goes to ``report-2026-10.<format>``.
The files hold citizens' comments and names: they are created 0600 (``incident.files``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime
from typing import IO, Any

from incident import files, reports, stats
from incident.commands.common import database, load
from incident.stats import Filters
from incident.web import printable
from incident.words import APPEALS, COMMUNITIES, count, number

EXIT_OK = 0
EXIT_USAGE = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="отчёт за месяц по сообществам (XLSX, CSV или страница для печати)",
        description="Сводка за месяц в форме регионального рейтинга: обращения, доля в срок, "
        "медиана времени ответа, просроченные, доля отвеченных; темы обращений.",
    )
    p.add_argument("--month", required=True, metavar="ГГГГ-ММ", help="например 2026-10")
    p.add_argument("--community", metavar="ID", help="только это сообщество")
    p.add_argument("--format", choices=("xlsx", "csv", "html"), default="xlsx")
    p.add_argument("--out", metavar="PATH", help="файл отчёта; '-' — стандартный вывод")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser(
        "export",
        help="выгрузка обращений с временем ответа (CSV или XLSX)",
        description="Все обращения, поступившие в указанные дни, с временем первого ответа.",
    )
    p.add_argument("--from", dest="first", required=True, metavar="ГГГГ-ММ-ДД")
    p.add_argument("--to", dest="last", required=True, metavar="ГГГГ-ММ-ДД")
    p.add_argument("--format", choices=("csv", "xlsx"), required=True)
    p.add_argument("--out", required=True, metavar="PATH", help="файл; '-' — стандартный вывод")
    p.add_argument("--community", metavar="ID", help="только это сообщество")
    p.set_defaults(handler=cmd_export)


def _fail(command: str, message: str) -> int:
    print(f"incident {command}: ошибка: {message}", file=sys.stderr)
    return EXIT_USAGE


def _text_out(out: str) -> AbstractContextManager[IO[str]]:
    if out == "-":
        return nullcontext(sys.stdout)
    # BOM: spreadsheets then read the Cyrillic right
    return files.private_file(out).open("w", encoding="utf-8-sig", newline="")


def cmd_report(args: argparse.Namespace, now: Callable[[], datetime] | None = None) -> int:
    try:
        year, month = reports.month_of(str(args.month))
    except ValueError as exc:
        return _fail("report", f"--month {exc}")
    out = args.out or f"report-{year}-{month:02d}{'-' + args.community if args.community else ''}"
    if args.out is None:
        out += f".{args.format}"
    if out == "-" and args.format == "xlsx":
        return _fail("report", "XLSX нельзя вывести в терминал; укажите --out ФАЙЛ")
    config = load(args)
    with database(config) as engine, engine.begin() as conn:
        report = reports.monthly_report(
            conn,
            year,
            month,
            (now or _utc_now)(),
            timezone=config.sla.calendar.timezone,
            community=args.community,
        )
    if args.format == "xlsx":
        reports.write_report_xlsx(report, files.private_file(out))
    elif args.format == "csv":
        with _text_out(out) as stream:
            reports.write_report_csv(report, stream)
    else:
        page = printable.report_html(report)
        if out == "-":
            sys.stdout.write(page)
        else:
            files.private_file(out).write_text(page, encoding="utf-8")
    if out != "-":
        t = report.total
        print(
            f"{out}: {count(len(report.communities), COMMUNITIES)}, "
            f"{count(t.incidents, APPEALS)}, отвечено {number(t.answered)}, "
            f"просрочено {number(t.overdue)}"
        )
    return EXIT_OK


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _day(text: Any, option: str) -> date:
    try:
        day = date.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"{option} {text!r}: нужна дата ГГГГ-ММ-ДД") from None
    if not stats.in_range(day):
        raise ValueError(f"{option} {day}: {stats.OUT_OF_RANGE}")
    return day


def cmd_export(args: argparse.Namespace) -> int:
    try:
        first, last = _day(args.first, "--from"), _day(args.last, "--to")
    except ValueError as exc:
        return _fail("export", str(exc))
    if last < first:
        return _fail("export", f"--to {last} раньше, чем --from {first}")
    if args.out == "-" and args.format == "xlsx":
        return _fail("export", "XLSX нельзя вывести в терминал; укажите --out ФАЙЛ")
    config = load(args)
    filters = Filters.for_days(first, last, config.sla.calendar.timezone, community=args.community)
    with database(config) as engine, engine.connect() as conn:
        rows = reports.export_rows(conn, filters)
        if args.format == "xlsx":
            n = reports.write_incidents_xlsx(rows, files.private_file(args.out))
        else:
            with _text_out(args.out) as stream:
                n = reports.write_incidents_csv(rows, stream)
    if args.out != "-":
        print(f"{args.out}: {count(n, APPEALS)} за {first:%d.%m.%Y}–{last:%d.%m.%Y}")
    return EXIT_OK
