"""Properties of the working-time arithmetic, checked with hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from incident.workcal import (
    WorkingCalendar,
    due_at,
    next_working_moment,
    working_time_between,
)

MSK = ZoneInfo("Europe/Moscow")
CALENDARS = {
    "default": WorkingCalendar(),
    "lunch": WorkingCalendar(lunch=(time(13), time(14))),
    # A zone with daylight saving time, to keep the UTC arithmetic honest.
    "berlin": WorkingCalendar(
        timezone="Europe/Berlin", workday_start=time(8), workday_end=time(16, 30)
    ),
}

# Up to a few seconds per suite: every example is a handful of bisects on cached years.
FAST = settings(max_examples=150, deadline=None)

moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
hours = st.integers(min_value=0, max_value=60 * 80).map(lambda minutes: minutes / 60)
calendars = st.sampled_from(sorted(CALENDARS))


def is_working_or_interval_end(t: datetime, calendar: WorkingCalendar) -> bool:
    if next_working_moment(t, calendar) == t:
        return True
    local_day = t.astimezone(calendar.tz).date()
    return any(end == t for _, end in calendar.working_intervals(local_day))


@FAST
@given(name=calendars, a=moments, b=moments, h=hours)
def test_due_at_is_monotonic_in_start(name: str, a: datetime, b: datetime, h: float) -> None:
    calendar = CALENDARS[name]
    early, late = sorted((a, b))
    assert due_at(early, h, calendar) <= due_at(late, h, calendar)


@FAST
@given(name=calendars, start=moments, h1=hours, h2=hours)
def test_due_at_is_monotonic_in_hours(name: str, start: datetime, h1: float, h2: float) -> None:
    calendar = CALENDARS[name]
    few, many = sorted((h1, h2))
    assert due_at(start, few, calendar) <= due_at(start, many, calendar)


@FAST
@given(name=calendars, start=moments, h=hours)
def test_due_at_never_lands_in_non_working_time(name: str, start: datetime, h: float) -> None:
    calendar = CALENDARS[name]
    due = due_at(start, h, calendar)
    assert due >= start
    assert is_working_or_interval_end(due, calendar)


@FAST
@given(name=calendars, start=moments, h=hours)
def test_working_time_between_inverts_due_at(name: str, start: datetime, h: float) -> None:
    calendar = CALENDARS[name]
    assert working_time_between(start, due_at(start, h, calendar), calendar) == timedelta(hours=h)


@FAST
@given(start=moments, h=hours)
def test_result_does_not_depend_on_the_input_zone(start: datetime, h: float) -> None:
    calendar = CALENDARS["lunch"]
    in_utc = due_at(start, h, calendar)
    in_moscow = due_at(start.astimezone(MSK), h, calendar)
    assert in_utc == in_moscow
    assert in_utc.utcoffset() == in_moscow.utcoffset()
    end = start + timedelta(days=3)
    assert working_time_between(start, end, calendar) == working_time_between(
        start.astimezone(MSK), end.astimezone(MSK), calendar
    )


@FAST
@given(name=calendars, a=moments, b=moments, c=moments)
def test_working_time_is_additive(name: str, a: datetime, b: datetime, c: datetime) -> None:
    calendar = CALENDARS[name]
    first, middle, last = sorted((a, b, c))
    total = working_time_between(first, last, calendar)
    assert total == working_time_between(first, middle, calendar) + working_time_between(
        middle, last, calendar
    )
    assert timedelta(0) <= total <= last - first


@FAST
@given(name=calendars, t=moments)
def test_next_working_moment_skips_only_non_working_time(name: str, t: datetime) -> None:
    calendar = CALENDARS[name]
    moment = next_working_moment(t, calendar)
    assert moment >= t
    assert working_time_between(t, moment, calendar) == timedelta(0)
    assert next_working_moment(moment, calendar) == moment
    assert working_time_between(moment, moment + timedelta(minutes=1), calendar) > timedelta(0)
