"""Working time: the Russian production calendar, working hours, and arithmetic on them.

Pure: no clock, no I/O. Every function takes aware datetimes (naive ones raise ``ValueError``)
and returns aware datetimes in the calendar's zone (``WorkingCalendar.timezone``); they compare
equal to the same instant in any other zone.

Which days are working days
---------------------------
1. The Russian production calendar from the ``holidays`` package (``holidays.Russia``):
   public holidays (Labour Code art. 112), days off moved by the government's yearly decree,
   holidays on a weekend moved to the next weekday, and weekend days made working by a decree
   (e.g. Saturdays 2024-04-27, 2024-11-02, 2024-12-28, 2025-11-01). A year the package has no
   decree for yet gets only the Labour Code's rules (holidays; a holiday outside January on a
   weekend moves to the next weekday): check it with ``incident sla calendar --year``.
   With ``production_calendar=False`` only Saturday and Sunday are days off.
2. ``extra_days_off`` and ``extra_working_days`` override step 1 for single dates.
3. Pre-holiday shortening (Labour Code art. 95): a working day immediately before a public
   holiday ends ``pre_holiday_shortening`` earlier (default one hour; zero disables). A weekend
   day made working by a decree stands in for the weekday it swapped with: it is shortened when
   that weekday would have been (2024-11-02 stood in for 2024-04-30, the eve of May 1: shortened;
   2024-12-28 stood in for 2024-12-30, whose next day is not a holiday: full length).
   Days off moved by a decree (2025-12-31) and "observed" days (2026-03-09) are not holidays
   for this rule. ``extra_short_days`` and ``extra_full_days`` override the rule per date.
   The package does not offer shortened days; the swap pairs come from its
   ``special_public_holidays`` attribute (data, not a documented API): the tests pin known
   pairs, so an upgrade that changes its shape fails loudly.

Working intervals are half-open ``[start, end)`` in local wall time; a moment exactly at an
interval's end is not working time, but ``due_at`` may return it (the budget ends there).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from incident.prodcal import ProductionRules, has_decree

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Longest working budget accepted, in hours: about five working years.
MAX_WORKING_HOURS = 10_000.0
# How many consecutive years without a single working minute end a forward search.
_MAX_EMPTY_YEARS = 3


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


def _to_us(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


@dataclass(frozen=True, slots=True)
class DayInfo:
    """What the calendar says about one local date."""

    day: date
    working: bool
    shortened: bool
    holiday_name: str | None  # the production calendar's name for a non-working weekday/holiday
    moved_working_day: bool  # a Saturday/Sunday made working (by a decree or extra_working_days)
    override: bool  # extra_days_off / extra_working_days / extra_short_days / extra_full_days


@dataclass(frozen=True, slots=True)
class _Year:
    """Precomputed working intervals of one local year, in microseconds since the epoch."""

    begin: int  # local Jan 1 00:00 of the year
    starts: list[int]
    ends: list[int]
    cum_before: list[int]  # working time in the year before interval i
    cum_after: list[int]  # working time in the year up to the end of interval i
    days: dict[date, DayInfo]

    @property
    def total(self) -> int:
        return self.cum_after[-1] if self.cum_after else 0

    def worked_until(self, t: int) -> int:
        """Working time from the year's start up to the moment ``t`` (inside the year)."""
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0
        return self.cum_before[i] + min(t, self.ends[i]) - self.starts[i]

    def moment_after(self, worked: int) -> int:
        """The earliest moment at which ``worked`` (> 0, <= total) working time has elapsed."""
        i = bisect_left(self.cum_after, worked)
        return self.starts[i] + worked - self.cum_before[i]

    def next_start(self, t: int) -> int | None:
        """``t`` if it is working time, else the start of the next interval in the year."""
        i = bisect_right(self.starts, t) - 1
        if i >= 0 and t < self.ends[i]:
            return t
        return self.starts[i + 1] if i + 1 < len(self.starts) else None


def _require_naive_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError(f"working hours are local wall times, got an aware time {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """Working hours, time zone and day rules of one deployment.

    Frozen and hashable; it caches per-year working intervals inside itself (the cache is not
    part of equality), so share one instance rather than rebuilding it per call.
    """

    timezone: str = "Europe/Moscow"
    workday_start: time = time(9, 0)
    workday_end: time = time(18, 0)
    lunch: tuple[time, time] | None = None
    production_calendar: bool = True
    pre_holiday_shortening: timedelta = timedelta(hours=1)
    extra_days_off: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    extra_short_days: frozenset[date] = frozenset()
    extra_full_days: frozenset[date] = frozenset()
    _cache: dict[int, _Year] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        start = _require_naive_time(self.workday_start)
        end = _require_naive_time(self.workday_end)
        if not start < end:
            raise ValueError(f"workday_start {start} must be before workday_end {end}")
        if self.lunch is not None:
            lunch_start, lunch_end = (_require_naive_time(t) for t in self.lunch)
            if not start < lunch_start < lunch_end < end:
                raise ValueError(
                    f"lunch {lunch_start}-{lunch_end} must lie strictly inside the working day "
                    f"{start}-{end}"
                )
        if self.pre_holiday_shortening < timedelta(0):
            raise ValueError("pre_holiday_shortening must not be negative")
        if self.pre_holiday_shortening >= self.day_length:
            raise ValueError(
                f"pre_holiday_shortening {self.pre_holiday_shortening} must be shorter than "
                f"the working day ({self.day_length})"
            )
        for first, second, a, b in (
            ("extra_days_off", "extra_working_days", self.extra_days_off, self.extra_working_days),
            ("extra_short_days", "extra_full_days", self.extra_short_days, self.extra_full_days),
        ):
            if both := sorted(a & b):
                raise ValueError(f"{first} and {second} both list {both[0].isoformat()}")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def day_length(self) -> timedelta:
        """Working time of a full (not shortened) day, lunch excluded."""
        day = date(2000, 1, 3)
        length = datetime.combine(day, self.workday_end) - datetime.combine(day, self.workday_start)
        if self.lunch is not None:
            length -= datetime.combine(day, self.lunch[1]) - datetime.combine(day, self.lunch[0])
        return length

    # ----- days -------------------------------------------------------------------------------

    def day_info(self, day: date) -> DayInfo:
        return self._year(day.year).days[day]

    def is_working_day(self, day: date) -> bool:
        return self.day_info(day).working

    def days(self, year: int) -> Iterator[DayInfo]:
        """Every date of ``year`` in order."""
        year_data = self._year(year)
        return iter(sorted(year_data.days.values(), key=lambda info: info.day))

    def has_decree(self, year: int) -> bool:
        """Whether the production calendar package knows the government's decree for ``year``."""
        if not self.production_calendar:
            return False
        return has_decree(year)

    def working_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working intervals of a local date, as aware datetimes in the calendar's zone."""
        year_data = self._year(day.year)
        tz = self.tz
        lo = _to_us(datetime.combine(day, time(0), tzinfo=tz))
        hi = _to_us(datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz))
        i = bisect_left(year_data.starts, lo)
        result = []
        while i < len(year_data.starts) and year_data.starts[i] < hi:
            result.append((self._from_us(year_data.starts[i]), self._from_us(year_data.ends[i])))
            i += 1
        return result

    # ----- internals --------------------------------------------------------------------------

    def _from_us(self, value: int) -> datetime:
        return (_EPOCH + value * _MICROSECOND).astimezone(self.tz)

    def _year(self, year: int) -> _Year:
        cached = self._cache.get(year)
        if cached is None:
            if not 1900 <= year <= 2200:
                raise ValueError(f"year {year} is out of range 1900..2200")
            cached = self._build_year(year)
            self._cache[year] = cached
        return cached

    def _local_intervals(self, shortened: bool) -> list[tuple[time, time]]:
        start, end = self.workday_start, self.workday_end
        pieces = (
            [(start, end)] if self.lunch is None else [(start, self.lunch[0]), (self.lunch[1], end)]
        )
        if not shortened or not self.pre_holiday_shortening:
            return pieces
        # Cut the shortening off the end of the day, across the lunch break if needed.
        left = self.pre_holiday_shortening
        base = date(2000, 1, 3)
        result: list[tuple[time, time]] = []
        for a, b in reversed(pieces):
            length = datetime.combine(base, b) - datetime.combine(base, a)
            if left >= length:
                left -= length
                continue
            result.append((a, (datetime.combine(base, b) - left).time()))
            left = timedelta(0)
        return list(reversed(result))

    def _build_year(self, year: int) -> _Year:
        tz = self.tz
        rules = ProductionRules.for_year(year) if self.production_calendar else None
        days: dict[date, DayInfo] = {}
        starts: list[int] = []
        ends: list[int] = []
        full = self._local_intervals(shortened=False)
        short = self._local_intervals(shortened=True)
        day = date(year, 1, 1)
        while day.year == year:
            info = self._classify(day, rules)
            days[day] = info
            if info.working:
                for a, b in short if info.shortened else full:
                    s = _to_us(datetime.combine(day, a, tzinfo=tz))
                    e = _to_us(datetime.combine(day, b, tzinfo=tz))
                    if e > s:  # a local-time gap (DST) can swallow a piece
                        starts.append(s)
                        ends.append(e)
            day += timedelta(days=1)
        cum_before: list[int] = []
        cum_after: list[int] = []
        total = 0
        for s, e in zip(starts, ends, strict=True):
            cum_before.append(total)
            total += e - s
            cum_after.append(total)
        return _Year(
            begin=_to_us(datetime(year, 1, 1, tzinfo=tz)),
            starts=starts,
            ends=ends,
            cum_before=cum_before,
            cum_after=cum_after,
            days=days,
        )

    def _classify(self, day: date, rules: ProductionRules | None) -> DayInfo:
        weekend = day.weekday() >= 5
        if rules is None:
            working, name, moved = not weekend, None, False
        else:
            working = rules.is_working_day(day)
            name = rules.names.get(day)
            moved = weekend and working
        override = False
        if day in self.extra_days_off:
            working, override = False, True
        elif day in self.extra_working_days:
            working, override, moved = True, True, weekend
        shortened = False
        if working and self.pre_holiday_shortening:
            if day in self.extra_short_days:
                shortened, override = True, True
            elif day in self.extra_full_days:
                override = True
            elif rules is not None:
                shortened = rules.is_pre_holiday(day)
        return DayInfo(
            day=day,
            working=working,
            shortened=shortened,
            holiday_name=name,
            moved_working_day=moved,
            override=override,
        )


# ----- arithmetic -------------------------------------------------------------------------------


def _hours_to_us(working_hours: float) -> int:
    if isinstance(working_hours, bool) or not isinstance(working_hours, int | float):
        raise TypeError(f"working_hours must be a number, got {working_hours!r}")
    if not math.isfinite(working_hours) or working_hours < 0:
        raise ValueError(f"working_hours must be a finite number >= 0, got {working_hours!r}")
    if working_hours > MAX_WORKING_HOURS:
        raise ValueError(f"working_hours must be at most {MAX_WORKING_HOURS:g}")
    return timedelta(hours=working_hours) // _MICROSECOND


def _local_year(t: datetime, calendar: WorkingCalendar) -> int:
    return t.astimezone(calendar.tz).year


def next_working_moment(t: datetime, calendar: WorkingCalendar) -> datetime:
    """``t`` itself if it is working time, else the start of the next working interval."""
    _require_aware(t, "t")
    year = _local_year(t, calendar)
    t_us = _to_us(t)
    empty = 0
    while True:
        year_data = calendar._year(year)
        found = year_data.next_start(max(t_us, year_data.begin))
        if found is not None:
            return calendar._from_us(found)
        empty = empty + 1 if not year_data.starts else 0
        if empty > _MAX_EMPTY_YEARS:
            raise ValueError("the calendar has no working time ahead")
        year += 1


def due_at(start: datetime, working_hours: float, calendar: WorkingCalendar) -> datetime:
    """The moment ``working_hours`` of working time after ``start``.

    A start outside working time begins at the next working moment. A budget that runs out
    exactly at the end of a working interval returns that end (e.g. 18:00), not the next
    morning. ``working_hours == 0`` returns ``next_working_moment(start)``.
    """
    _require_aware(start, "start")
    need = _hours_to_us(working_hours)
    if need == 0:
        return next_working_moment(start, calendar)
    year = _local_year(start, calendar)
    year_data = calendar._year(year)
    target = year_data.worked_until(_to_us(start)) + need
    empty = 0
    while target > year_data.total:
        target -= year_data.total
        empty = empty + 1 if not year_data.starts else 0
        if empty > _MAX_EMPTY_YEARS:
            raise ValueError("the calendar has no working time ahead")
        year += 1
        year_data = calendar._year(year)
    return calendar._from_us(year_data.moment_after(target))


def working_time_between(a: datetime, b: datetime, calendar: WorkingCalendar) -> timedelta:
    """Working time elapsed from ``a`` to ``b``; zero when ``b`` is not after ``a``.

    The inverse of ``due_at``: ``working_time_between(s, due_at(s, h)) == timedelta(hours=h)``.
    """
    _require_aware(a, "a")
    _require_aware(b, "b")
    a_us, b_us = _to_us(a), _to_us(b)
    if b_us <= a_us:
        return timedelta(0)
    year_a, year_b = _local_year(a, calendar), _local_year(b, calendar)
    first = calendar._year(year_a)
    if year_a == year_b:
        worked = first.worked_until(b_us) - first.worked_until(a_us)
    else:
        worked = first.total - first.worked_until(a_us)
        for year in range(year_a + 1, year_b):
            worked += calendar._year(year).total
        worked += calendar._year(year_b).worked_until(b_us)
    return worked * _MICROSECOND


def end_of_working_day(day: date, calendar: WorkingCalendar) -> datetime | None:
    """The end of the last working interval of a local date, or None on a day off."""
    intervals = calendar.working_intervals(day)
    return intervals[-1][1] if intervals else None


def add_working_days(t: datetime, days: int, calendar: WorkingCalendar) -> datetime:
    """The end of the ``days``-th working day after the day on which ``t``'s clock starts.

    The clock starts at ``next_working_moment(t)``; that day is day 0. With ``days == 0`` this
    is the end of that same working day.
    """
    _require_aware(t, "t")
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError(f"days must be an integer >= 0, got {days!r}")
    day = next_working_moment(t, calendar).astimezone(calendar.tz).date()
    remaining = days
    limit = day + timedelta(days=366 * (_MAX_EMPTY_YEARS + 1) + 2 * days)
    while remaining:
        day += timedelta(days=1)
        if day > limit:
            raise ValueError("the calendar has no working days ahead")
        if calendar.is_working_day(day) and calendar.working_intervals(day):
            remaining -= 1
    end = end_of_working_day(day, calendar)
    assert end is not None  # the loop stops only on a day with working intervals
    return end
