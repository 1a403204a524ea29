"""``incident sla ...``: check deadlines and the working calendar from the command line.

``sla due --from ISO8601 [--hours H]`` prints the due time (ISO 8601, deployment zone).
``sla calendar --year Y`` prints the year's days off, moved working days and shortened days.
Settings come from ``args.sla_settings`` when the entry point sets it, else the defaults.
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime

from incident.sla import SlaSettings
from incident.workcal import MAX_WORKING_HOURS, WorkingCalendar, due_at

_WEEKDAYS = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("sla", help="сроки ответа в рабочих часах")
    commands = parser.add_subparsers(dest="sla_command", metavar="КОМАНДА", required=True)

    due = commands.add_parser(
        "due",
        help="когда истекает срок ответа",
        description="Печатает срок: момент, когда пройдёт заданное число рабочих часов.",
    )
    due.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="ISO8601",
        help="начало отсчёта с часовым поясом, например 2026-11-20T17:59:00+03:00",
    )
    due.add_argument(
        "--hours",
        default=None,
        metavar="H",
        help="рабочих часов на ответ (по умолчанию target_hours из [sla])",
    )
    due.set_defaults(handler=run_due)

    calendar = commands.add_parser(
        "calendar",
        help="производственный календарь года",
        description="Печатает нерабочие дни, рабочие выходные и сокращённые дни года.",
    )
    calendar.add_argument("--year", required=True, metavar="ГОД", help="например 2026")
    calendar.set_defaults(handler=run_calendar)


def _settings(args: argparse.Namespace) -> SlaSettings:
    settings = getattr(args, "sla_settings", None)
    return settings if isinstance(settings, SlaSettings) else SlaSettings()


def _fail(args: argparse.Namespace, message: str) -> int:
    print(f"incident sla: ошибка: {message}", file=sys.stderr)
    return EXIT_USAGE


def run_due(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        start = datetime.fromisoformat(str(args.start))
    except ValueError:
        return _fail(
            args,
            f"--from {args.start!r}: не дата и время ISO 8601 (пример: 2026-11-20T17:59:00+03:00)",
        )
    if start.tzinfo is None or start.utcoffset() is None:
        return _fail(
            args,
            f"--from {args.start!r}: нужен часовой пояс (например +03:00 или Z)",
        )
    if args.hours is None:
        hours = settings.default_policy.target_hours
    else:
        try:
            hours = float(str(args.hours).replace(",", "."))
        except ValueError:
            return _fail(args, f"--hours {args.hours!r}: не число")
        if not math.isfinite(hours) or not 0 <= hours <= MAX_WORKING_HOURS:
            return _fail(args, f"--hours {args.hours!r}: нужно число от 0 до {MAX_WORKING_HOURS:g}")
    try:
        due = due_at(start, hours, settings.calendar)
    except ValueError as exc:
        return _fail(args, f"не удалось посчитать срок: {exc}")
    print(due.isoformat())
    return 0


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g}"


def calendar_report(year: int, calendar: WorkingCalendar) -> list[str]:
    """The lines ``sla calendar`` prints for ``year``."""
    lunch = f", обед {calendar.lunch[0]:%H:%M}–{calendar.lunch[1]:%H:%M}" if calendar.lunch else ""
    lines = [
        f"Производственный календарь {year} ({calendar.timezone}, "
        f"{calendar.workday_start:%H:%M}–{calendar.workday_end:%H:%M}{lunch})"
    ]
    if not calendar.production_calendar:
        lines.append("Праздники не учитываются (production_calendar = false).")
    elif not calendar.has_decree(year):
        lines.append(
            "Внимание: постановления о переносе выходных на этот год в библиотеке нет; "
            "учтены только праздники и переносы по ст. 112 ТК РФ. "
            "Проверьте и добавьте переносы в extra_days_off / extra_working_days."
        )
    days = list(calendar.days(year))

    def label(info_day: str, weekday: int, note: str) -> str:
        return f"  {info_day} {_WEEKDAYS[weekday]}  {note}".rstrip()

    off = [d for d in days if not d.working and (d.day.weekday() < 5 or d.holiday_name)]
    lines.append("Нерабочие праздничные и перенесённые дни:")
    for d in off:
        note = d.holiday_name or ""
        if d.override:
            note = (note + "; " if note else "") + "extra_days_off"
        lines.append(label(d.day.isoformat(), d.day.weekday(), note))
    if not off:
        lines.append("  нет")

    moved = [d for d in days if d.working and d.moved_working_day]
    lines.append("Рабочие субботы и воскресенья (перенос):")
    for d in moved:
        lines.append(
            label(d.day.isoformat(), d.day.weekday(), "extra_working_days" if d.override else "")
        )
    if not moved:
        lines.append("  нет")

    shortening = _hours(calendar.pre_holiday_shortening.total_seconds())
    short = [d for d in days if d.shortened]
    lines.append(f"Сокращённые предпраздничные дни (на {shortening} ч):")
    for d in short:
        lines.append(
            label(d.day.isoformat(), d.day.weekday(), "extra_short_days" if d.override else "")
        )
    if not short:
        lines.append("  нет")

    working_days = sum(1 for d in days if d.working)
    working_seconds = sum(
        (end - start).total_seconds()
        for d in days
        if d.working
        for start, end in calendar.working_intervals(d.day)
    )
    lines.append(
        f"Итого: рабочих дней {working_days}, выходных и праздничных {len(days) - working_days}, "
        f"рабочих часов {_hours(working_seconds)}"
    )
    return lines


def run_calendar(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        year = int(str(args.year))
    except ValueError:
        return _fail(args, f"--year {args.year!r}: не год")
    if not 1992 <= year <= 2100:
        return _fail(args, f"--year {year}: нужен год от 1992 до 2100")
    for line in calendar_report(year, settings.calendar):
        print(line)
    return 0
