"""The Russian production calendar as ``holidays.Russia`` gives it: days off, moved days, eves.

Pure data from the ``holidays`` package; ``incident.workcal`` builds working hours on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from holidays import country_holidays


@dataclass(frozen=True, slots=True)
class ProductionRules:
    """What ``holidays.Russia`` says about the years around one year."""

    working: dict[date, bool]
    names: dict[date, str]
    statutory_holidays: frozenset[date]  # art. 112 holidays, not moved or observed days off
    stands_for: dict[date, date]  # a weekend day made working -> the weekday it swapped with

    @classmethod
    def for_year(cls, year: int) -> ProductionRules:
        years = range(max(year - 1, 1), year + 2)
        calendar = country_holidays("RU", years=years, language="ru")
        plain = country_holidays("RU", years=years, observed=False)
        moved: dict[date, date] = {}  # weekday day off -> the weekend day it came from
        special: dict[int, Any] = getattr(calendar, "special_public_holidays", {})
        for entry_year, entries in special.items():
            for to_date, from_date in _substitutions(entry_year, entries):
                moved[to_date] = from_date
        stands_for = {
            from_date: to_date
            for to_date, from_date in moved.items()
            if from_date in calendar.weekend_workdays
        }
        names = {d: str(n) for d, n in calendar.items() if d.year == year}
        statutory = frozenset(d for d in plain if d not in moved)
        # Years the package has no decree data for get the Labour Code's own rule (art. 112):
        # a holiday outside January that falls on a weekend moves to the next working day.
        observed: dict[int, Any] = getattr(calendar, "special_public_holidays_observed", {})
        statutory_moves: dict[date, str] = {}
        if not special.get(year) and not observed.get(year):
            for holiday in sorted(d for d in statutory if d.year == year):
                if holiday.month == 1 or holiday.weekday() < 5:
                    continue
                day = holiday + timedelta(days=1)
                while day.weekday() >= 5 or day in statutory or day in statutory_moves:
                    day += timedelta(days=1)
                statutory_moves[day] = f"{names.get(holiday, 'Праздник')} (перенос, ст. 112 ТК РФ)"
        working = {}
        day = date(year, 1, 1)
        while day.year == year:
            working[day] = bool(calendar.is_working_day(day)) and day not in statutory_moves
            day += timedelta(days=1)
        names.update((d, n) for d, n in statutory_moves.items() if d.year == year)
        return cls(
            working=working,
            names=names,
            statutory_holidays=statutory,
            stands_for=stands_for,
        )

    def is_working_day(self, day: date) -> bool:
        return self.working[day]

    def is_pre_holiday(self, day: date) -> bool:
        stand_in = self.stands_for.get(day, day)
        return stand_in + timedelta(days=1) in self.statutory_holidays


def _substitutions(year: int, entries: Any) -> Iterable[tuple[date, date]]:
    """(day off, weekend day it came from) pairs of one year of ``special_public_holidays``.

    The package stores one tuple or a tuple of tuples per year; a substitution is
    ``(to_month, to_day, from_month, from_day[, from_year])``; 3-tuples are one-off holidays.
    """
    if not isinstance(entries, tuple) or not entries:
        return []
    items = (entries,) if isinstance(entries[0], int) else entries
    pairs = []
    for item in items:
        if isinstance(item, tuple) and len(item) in (4, 5) and isinstance(item[2], int):
            from_year = item[4] if len(item) == 5 else year
            pairs.append((date(year, item[0], item[1]), date(from_year, item[2], item[3])))
    return pairs


def has_decree(year: int) -> bool:
    """Whether the ``holidays`` package knows the decree moving days off in ``year``."""
    special: dict[int, Any] = getattr(
        country_holidays("RU", years=year), "special_public_holidays", {}
    )
    return bool(special.get(year))
