"""Deadlines in working hours: the production calendar, working-time arithmetic, policies."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from incident.config import sla as sla_config
from incident.config.sla import sla_settings_from_mapping
from incident.models import Comment, Platform
from incident.sla import (
    ClockStart,
    DeadlineStage,
    PolicyRule,
    SlaPolicy,
    SlaSettings,
    deadline,
)
from incident.wiring import working_hours_policy
from incident.workcal import (
    WorkingCalendar,
    add_working_days,
    due_at,
    next_working_moment,
    working_time_between,
)

MSK = ZoneInfo("Europe/Moscow")
CAL = WorkingCalendar()  # Mon-Fri 09:00-18:00 Moscow, production calendar, 1 h pre-holiday
LUNCH = WorkingCalendar(lunch=(time(13), time(14)))
WHERE = "config.toml [sla]"


def msk(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=MSK)


def days_off(year: int, calendar: WorkingCalendar = CAL) -> set[date]:
    return {d.day for d in calendar.days(year) if not d.working}


def weekday_days_off(year: int) -> list[str]:
    return sorted(d.isoformat() for d in days_off(year) if d.weekday() < 5)


# ----- the production calendar (facts from the government decrees) ------------------------------


def test_2025_new_year_holidays_are_january_1_to_8() -> None:
    assert {date(2025, 1, d) for d in range(1, 9)} <= days_off(2025)
    assert CAL.is_working_day(date(2025, 1, 9))


def test_2025_may_holidays_are_1_to_4_and_8_to_11() -> None:
    may_off = {d for d in days_off(2025) if d.month == 5}
    assert may_off == {date(2025, 5, d) for d in (1, 2, 3, 4, 8, 9, 10, 11, 17, 18, 24, 25, 31)}


def test_2025_november_1_is_a_working_saturday_and_3_4_are_off() -> None:
    info = CAL.day_info(date(2025, 11, 1))
    assert info.working
    assert info.moved_working_day
    assert not CAL.is_working_day(date(2025, 11, 3))
    assert not CAL.is_working_day(date(2025, 11, 4))


def test_2025_december_31_is_a_day_off() -> None:
    assert not CAL.is_working_day(date(2025, 12, 31))
    assert CAL.is_working_day(date(2025, 12, 30))


def test_2025_has_247_working_days() -> None:
    assert sum(1 for d in CAL.days(2025) if d.working) == 247


def test_2026_new_year_holidays_are_january_1_to_11() -> None:
    assert {date(2026, 1, d) for d in range(1, 12)} <= days_off(2026)
    assert CAL.is_working_day(date(2026, 1, 12))


def test_2026_weekday_days_off_follow_the_decree_and_labour_code() -> None:
    assert weekday_days_off(2026) == [
        "2026-01-01",
        "2026-01-02",
        "2026-01-05",
        "2026-01-06",
        "2026-01-07",
        "2026-01-08",
        "2026-01-09",
        "2026-02-23",
        "2026-03-09",  # March 8 is a Sunday
        "2026-05-01",
        "2026-05-11",  # May 9 is a Saturday
        "2026-06-12",
        "2026-11-04",
        "2026-12-31",
    ]
    assert sum(1 for d in CAL.days(2026) if d.working) == 247


def test_2024_moved_working_saturdays_are_working_days() -> None:
    for day in (date(2024, 4, 27), date(2024, 11, 2), date(2024, 12, 28)):
        info = CAL.day_info(day)
        assert info.working, day
        assert info.moved_working_day, day
    assert not CAL.is_working_day(date(2024, 4, 29))
    assert not CAL.is_working_day(date(2024, 12, 30))


def test_pre_holiday_days_are_the_eves_of_public_holidays_only() -> None:
    short_2026 = [d.day.isoformat() for d in CAL.days(2026) if d.shortened]
    # Not 2026-12-30: December 31 is a moved day off, not a public holiday.
    assert short_2026 == ["2026-04-30", "2026-05-08", "2026-06-11", "2026-11-03"]
    short_2025 = [d.day.isoformat() for d in CAL.days(2025) if d.shortened]
    # Not 2025-05-07: May 8 is a moved day off.
    assert short_2025 == ["2025-03-07", "2025-04-30", "2025-06-11", "2025-11-01"]


def test_moved_working_saturday_is_shortened_only_if_its_swapped_weekday_would_be() -> None:
    # 2024-11-02 stood in for 2024-04-30, the eve of May 1; 2024-12-28 for 2024-12-30.
    assert CAL.day_info(date(2024, 11, 2)).shortened
    assert not CAL.day_info(date(2024, 12, 28)).shortened
    assert not CAL.day_info(date(2024, 4, 27)).shortened


def test_year_without_a_decree_moves_weekend_holidays_to_the_next_weekday() -> None:
    # 2028-11-04 is a Saturday; the package has no 2028 decree.
    assert not CAL.has_decree(2028)
    assert CAL.has_decree(2026)
    info = CAL.day_info(date(2028, 11, 6))
    assert not info.working
    assert info.holiday_name is not None
    assert "ст. 112" in info.holiday_name


def test_without_production_calendar_only_weekends_are_off() -> None:
    plain = WorkingCalendar(production_calendar=False)
    assert plain.is_working_day(date(2026, 1, 1))
    assert not plain.is_working_day(date(2025, 11, 1))
    assert not any(d.shortened for d in plain.days(2026))


# ----- due_at ---------------------------------------------------------------------------------


def test_friday_1759_plus_8_hours_is_due_monday_1659() -> None:
    assert due_at(msk("2026-11-20T17:59"), 8, CAL) == msk("2026-11-23T16:59")


def test_due_is_returned_in_the_calendar_zone() -> None:
    due = due_at(datetime(2026, 11, 20, 14, 59, tzinfo=UTC), 8, CAL)
    assert due.tzinfo == MSK
    assert due.isoformat() == "2026-11-23T16:59:00+03:00"


def test_weekend_arrival_starts_at_monday_0900() -> None:
    assert due_at(msk("2026-11-21T12:00"), 8, CAL) == msk("2026-11-23T17:00")


def test_night_arrival_starts_at_next_morning() -> None:
    assert due_at(msk("2026-11-24T23:30"), 2, CAL) == msk("2026-11-25T11:00")
    assert due_at(msk("2026-11-24T06:00"), 2, CAL) == msk("2026-11-24T11:00")


def test_budget_ending_at_end_of_day_returns_1800_not_next_morning() -> None:
    assert due_at(msk("2026-11-24T10:00"), 8, CAL) == msk("2026-11-24T18:00")


def test_new_year_holidays_stop_the_clock() -> None:
    # 2025-12-30 is a full day (Dec 31 is a moved day off); then Jan 1-11 2026 are off.
    assert due_at(msk("2025-12-30T17:00"), 8, CAL) == msk("2026-01-12T16:00")


def test_may_holidays_stop_the_clock() -> None:
    # 2025-04-30 is shortened to 17:00; May 1-4 are off.
    assert due_at(msk("2025-04-30T16:00"), 8, CAL) == msk("2025-05-05T16:00")
    # 2025-05-07 is a full day; May 8-11 are off.
    assert due_at(msk("2025-05-07T17:00"), 2, CAL) == msk("2025-05-12T10:00")


def test_moved_working_saturday_counts_and_is_shortened_before_the_holiday() -> None:
    # Friday 17:00 -> 1 h; Saturday 2025-11-01 09:00-17:00 -> 8 h; budget ends at its end.
    assert due_at(msk("2025-10-31T17:00"), 9, CAL) == msk("2025-11-01T17:00")
    # Nov 2-4 are off.
    assert due_at(msk("2025-10-31T17:00"), 10, CAL) == msk("2025-11-05T10:00")


def test_full_length_moved_working_saturday() -> None:
    assert due_at(msk("2024-12-27T18:00"), 9, CAL) == msk("2024-12-28T18:00")


def test_pre_holiday_day_ends_an_hour_early() -> None:
    assert due_at(msk("2026-11-03T16:30"), 1, CAL) == msk("2026-11-05T09:30")


def test_pre_holiday_shortening_can_be_disabled() -> None:
    no_short = WorkingCalendar(pre_holiday_shortening=timedelta(0))
    assert due_at(msk("2026-11-03T16:30"), 1, no_short) == msk("2026-11-03T17:30")


def test_lunch_break_stops_the_clock() -> None:
    assert due_at(msk("2026-11-24T12:00"), 2, LUNCH) == msk("2026-11-24T15:00")
    assert due_at(msk("2026-11-24T13:30"), 1, LUNCH) == msk("2026-11-24T15:00")
    assert LUNCH.day_length == timedelta(hours=8)


def test_shortening_longer_than_the_afternoon_cuts_into_the_morning() -> None:
    cal = WorkingCalendar(lunch=(time(13), time(14)), pre_holiday_shortening=timedelta(hours=5))
    intervals = cal.working_intervals(date(2026, 11, 3))
    # 14:00-18:00 goes entirely, then one more hour off the morning.
    assert [(a.time(), b.time()) for a, b in intervals] == [(time(9), time(12))]


def test_extra_day_off_and_extra_working_day_override_the_calendar() -> None:
    cal = WorkingCalendar(
        extra_days_off=frozenset({date(2026, 12, 30)}),
        extra_working_days=frozenset({date(2026, 11, 21)}),
    )
    assert due_at(msk("2026-11-20T17:59"), 8, cal) == msk("2026-11-21T16:59")
    # Dec 30 off, Dec 31 and Jan 1-10 2027 off -> Monday 2027-01-11.
    assert due_at(msk("2026-12-29T18:00"), 1, cal) == msk("2027-01-11T10:00")
    assert cal.day_info(date(2026, 12, 30)).override


def test_extra_short_and_full_days_override_the_pre_holiday_rule() -> None:
    cal = WorkingCalendar(
        extra_short_days=frozenset({date(2026, 11, 25)}),
        extra_full_days=frozenset({date(2026, 11, 3)}),
    )
    assert cal.day_info(date(2026, 11, 25)).shortened
    assert not cal.day_info(date(2026, 11, 3)).shortened
    assert due_at(msk("2026-11-25T16:30"), 1, cal) == msk("2026-11-26T09:30")


def test_zero_hours_is_the_next_working_moment() -> None:
    assert due_at(msk("2026-11-21T12:00"), 0, CAL) == msk("2026-11-23T09:00")
    assert due_at(msk("2026-11-24T12:00"), 0, CAL) == msk("2026-11-24T12:00")


def test_long_budget_crosses_years() -> None:
    start = msk("2026-12-01T09:00")
    due = due_at(start, 3000, CAL)
    assert due.year == 2028
    assert working_time_between(start, due, CAL) == timedelta(hours=3000)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), 10_001])
def test_due_at_rejects_bad_hours(bad: float) -> None:
    with pytest.raises(ValueError, match="working_hours"):
        due_at(msk("2026-11-24T12:00"), bad, CAL)


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2026, 11, 24, 12, 0)
    aware = msk("2026-11-24T12:00")
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(naive, 1, CAL)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_working_moment(naive, CAL)
    with pytest.raises(ValueError, match="timezone-aware"):
        working_time_between(naive, aware, CAL)
    with pytest.raises(ValueError, match="timezone-aware"):
        working_time_between(aware, naive, CAL)
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline(naive, None, None, None, SlaSettings())


# ----- working_time_between / next_working_moment ------------------------------------------------


def test_working_time_over_a_weekend_counts_only_working_hours() -> None:
    elapsed = working_time_between(msk("2026-11-20T17:00"), msk("2026-11-23T10:30"), CAL)
    assert elapsed == timedelta(hours=2, minutes=30)


def test_working_time_excludes_lunch() -> None:
    elapsed = working_time_between(msk("2026-11-24T12:00"), msk("2026-11-24T15:00"), LUNCH)
    assert elapsed == timedelta(hours=2)


def test_working_time_is_zero_when_end_is_not_after_start() -> None:
    a = msk("2026-11-24T12:00")
    assert working_time_between(a, a, CAL) == timedelta(0)
    assert working_time_between(a, a - timedelta(hours=3), CAL) == timedelta(0)


def test_working_time_of_a_whole_year_matches_the_norm() -> None:
    # 2026: 247 working days x 8 h (with lunch) minus 4 shortened hours.
    year = working_time_between(msk("2026-01-01T00:00"), msk("2027-01-01T00:00"), LUNCH)
    assert year == timedelta(hours=247 * 8 - 4)


def test_next_working_moment_keeps_working_time_and_skips_the_rest() -> None:
    inside = msk("2026-11-24T10:15")
    assert next_working_moment(inside, CAL) == inside
    assert next_working_moment(msk("2026-11-24T18:00"), CAL) == msk("2026-11-25T09:00")
    assert next_working_moment(msk("2026-12-30T18:00"), CAL) == msk("2027-01-11T09:00")


def test_add_working_days_ends_at_the_end_of_the_nth_working_day() -> None:
    # Friday 2026-11-20 -> +7 working days: Nov 23..27, Nov 30, Dec 1.
    assert add_working_days(msk("2026-11-20T10:00"), 7, CAL) == msk("2026-12-01T18:00")
    assert add_working_days(msk("2026-11-20T19:00"), 0, CAL) == msk("2026-11-23T18:00")


# ----- policies and deadlines --------------------------------------------------------------------


def settings(**kwargs: Any) -> SlaSettings:
    return sla_settings_from_mapping(kwargs, WHERE)


def test_deadline_uses_working_hours_when_the_cap_is_later() -> None:
    d = deadline(msk("2026-11-24T10:00"), None, None, "vk", SlaSettings())
    assert d.target_due == msk("2026-11-24T18:00")
    assert d.cap_due == msk("2026-11-25T10:00")
    assert d.due == d.target_due
    assert d.warn == msk("2026-11-24T16:00")  # 75 % of 8 working hours


def test_deadline_is_capped_in_calendar_hours() -> None:
    # Friday evening: 8 working hours end Monday 17:00, the 24 h cap Saturday 20:00.
    d = deadline(msk("2026-11-20T20:00"), None, None, "vk", SlaSettings())
    assert d.clock_start == msk("2026-11-23T09:00")
    assert d.target_due == msk("2026-11-23T17:00")
    assert d.due == msk("2026-11-21T20:00")
    assert d.warn == msk("2026-11-21T14:00")  # 75 % of the 24 h cap
    assert d.warn <= d.due


def test_cap_can_be_switched_off() -> None:
    d = deadline(msk("2026-11-20T20:00"), None, None, "vk", settings(cap_hours=0))
    assert d.cap_due is None
    assert d.due == msk("2026-11-23T17:00")


def test_clock_starts_when_seen_if_configured() -> None:
    published = msk("2026-11-24T09:00")
    seen = msk("2026-11-24T11:00")
    by_published = deadline(published, seen, None, "vk", SlaSettings())
    by_seen = deadline(published, seen, None, "vk", settings(clock_starts="seen"))
    assert by_published.due == msk("2026-11-24T17:00")
    assert by_seen.due == msk("2026-11-25T10:00")
    unseen = deadline(published, None, None, "vk", settings(clock_starts="seen"))
    assert unseen.due == by_published.due


def test_most_specific_policy_wins() -> None:
    s = settings(
        policy=[
            {"platform": "vk", "target_hours": 6},
            {"topic": "roads", "target_hours": 4},
            {"topic": "roads", "platform": "vk", "target_hours": 2},
        ]
    )
    assert s.policy_for("roads", "vk").target_hours == 2
    assert s.policy_for("roads", Platform.VK).target_hours == 2
    assert s.policy_for("roads", "ok").target_hours == 4
    assert s.policy_for("parks", "vk").target_hours == 6
    assert s.policy_for("parks", "ok").target_hours == 8
    assert s.policy_for(None, None).target_hours == 8


def test_policy_inherits_unset_values_from_the_sla_table() -> None:
    s = settings(cap_hours=12, final_answer_days=5, policy=[{"topic": "roads", "target_hours": 3}])
    policy = s.policy_for("roads", "vk")
    assert policy == SlaPolicy(target_hours=3, cap_hours=12, final_answer_days=5)


def test_interim_then_final_mode_sets_a_final_deadline_in_working_days() -> None:
    s = settings(policy=[{"topic": "housing", "final_answer_days": 7}])
    d = deadline(msk("2026-11-20T10:00"), None, "housing", "vk", s)
    assert d.final_due == msk("2026-12-01T18:00")
    assert deadline(msk("2026-11-20T10:00"), None, "roads", "vk", s).final_due is None


def test_deadline_stage_and_met_by() -> None:
    d = deadline(msk("2026-11-24T10:00"), None, None, "vk", SlaSettings())
    assert d.stage(msk("2026-11-24T15:59")) is DeadlineStage.ON_TRACK
    assert d.stage(msk("2026-11-24T16:00")) is DeadlineStage.WARNING
    assert d.stage(msk("2026-11-24T18:00")) is DeadlineStage.WARNING
    assert d.stage(msk("2026-11-24T18:00:01")) is DeadlineStage.BREACHED
    assert d.met_by(msk("2026-11-24T18:00"))
    assert not d.met_by(msk("2026-11-24T18:01"))


def test_settings_reject_duplicate_rules_and_ruleless_policies() -> None:
    rule = PolicyRule(topic="roads", platform=None, policy=SlaPolicy())
    with pytest.raises(ValueError, match="two policy rules"):
        SlaSettings(rules=(rule, rule))
    with pytest.raises(ValueError, match="topic, a platform"):
        PolicyRule(topic=None, platform=None, policy=SlaPolicy())


# ----- the [sla] table ----------------------------------------------------------------------------


def test_absent_table_gives_documented_defaults() -> None:
    s = sla_settings_from_mapping({}, WHERE)
    assert s == SlaSettings()
    assert s.calendar == WorkingCalendar()
    assert s.default_policy == SlaPolicy(target_hours=8, cap_hours=24, final_answer_days=None)
    assert s.clock_starts is ClockStart.PUBLISHED
    assert s.warn_at == 0.75


def _docstring_example() -> str:
    doc = sla_config.__doc__ or ""
    block = doc.split("::\n", 1)[1].split("\nThe clock's semantics", 1)[0]
    lines = [re.sub(r"^ {4}", "", line) for line in block.splitlines()]
    # Uncomment the lines marked "example" and the example policy table.
    text = "\n".join(lines)
    text = re.sub(
        r"^# (lunch|\[\[sla\.policy\]\]|topic|platform|target_hours|cap_hours|final)",
        r"\1",
        text,
        flags=re.MULTILINE,
    )
    return text


def test_module_docstring_example_is_valid_config() -> None:
    data = tomllib.loads(_docstring_example())
    s = sla_settings_from_mapping(data["sla"], WHERE)
    assert s.calendar.lunch == (time(13), time(14))
    assert s.calendar.timezone == "Europe/Moscow"
    assert s.policy_for("roads", "telegram") == SlaPolicy(
        target_hours=4, cap_hours=12, final_answer_days=7
    )
    assert s.policy_for("roads", "ok") == s.default_policy


def test_full_table_parses_from_toml() -> None:
    data = tomllib.loads(
        """
        [sla]
        timezone = "Asia/Yekaterinburg"
        workday_start = "08:30"
        workday_end = "17:30"
        lunch = ["12:30", "13:15"]
        production_calendar = true
        pre_holiday_shortening_hours = 0.5
        extra_days_off = [2026-12-30, "2026-12-29"]
        extra_working_days = [2026-11-21]
        target_hours = 9
        cap_hours = 30
        clock_starts = "seen"
        warn_at = 0.5
        final_answer_days = 7
        """
    )
    s = sla_settings_from_mapping(data["sla"], WHERE)
    cal = s.calendar
    assert cal.timezone == "Asia/Yekaterinburg"
    assert (cal.workday_start, cal.workday_end) == (time(8, 30), time(17, 30))
    assert cal.lunch == (time(12, 30), time(13, 15))
    assert cal.pre_holiday_shortening == timedelta(minutes=30)
    assert cal.extra_days_off == {date(2026, 12, 30), date(2026, 12, 29)}
    assert cal.extra_working_days == {date(2026, 11, 21)}
    assert s.default_policy == SlaPolicy(target_hours=9, cap_hours=30, final_answer_days=7)
    assert s.clock_starts is ClockStart.SEEN
    assert s.warn_at == 0.5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"target_hour": 8},
            r"unknown key 'target_hour' in .*\[sla\]; did you mean 'target_hours'",
        ),
        ({"target_hours": "8"}, r"\[sla\]\.target_hours: expected a number"),
        ({"target_hours": True}, r"\[sla\]\.target_hours: expected a number"),
        ({"target_hours": 0}, r"\[sla\]\.target_hours: 0 is out of range"),
        ({"cap_hours": -1}, r"\[sla\]\.cap_hours: -1 is out of range"),
        ({"warn_at": 1.5}, r"\[sla\]\.warn_at: 1\.5 is out of range"),
        ({"warn_at": 0}, r"\[sla\]\.warn_at: must be greater than 0"),
        ({"workday_start": "9:00"}, r'\[sla\]\.workday_start: expected "HH:MM"'),
        ({"workday_end": 18}, r'\[sla\]\.workday_end: expected "HH:MM"'),
        ({"lunch": "13:00-14:00"}, r"\[sla\]\.lunch: expected \["),
        ({"lunch": ["13:00", "25:00"]}, r"\[sla\]\.lunch\[1\]: expected"),
        ({"lunch": ["19:00", "20:00"]}, r"\[sla\]: lunch .* inside the working day"),
        ({"workday_start": "18:00", "workday_end": "09:00"}, r"\[sla\]: workday_start"),
        ({"timezone": "Mars/Olympus"}, r"\[sla\]: unknown time zone 'Mars/Olympus'"),
        ({"clock_starts": "answered"}, r'\[sla\]\.clock_starts: expected "published" or "seen"'),
        ({"production_calendar": "yes"}, r"\[sla\]\.production_calendar: expected true or false"),
        ({"extra_days_off": "2026-12-30"}, r"\[sla\]\.extra_days_off: expected an array"),
        ({"extra_days_off": ["30.12.2026"]}, r"\[sla\]\.extra_days_off\[0\]: expected a date"),
        (
            {"extra_days_off": ["2026-12-30"], "extra_working_days": ["2026-12-30"]},
            r"extra_days_off and extra_working_days both list 2026-12-30",
        ),
        ({"final_answer_days": 1.5}, r"\[sla\]\.final_answer_days: expected an integer"),
        ({"pre_holiday_shortening_hours": 9}, r"pre_holiday_shortening .* shorter"),
        ({"policy": {"topic": "roads"}}, r"\[sla\]\.policy: expected an array of tables"),
        ({"policy": [{"topic": "roads", "colour": 1}]}, r"unknown key 'colour' in .*\.policy\[1\]"),
        (
            {"policy": [{"target_hours": 4}]},
            r"\.policy\[1\]: set topic, platform, community or several",
        ),
        ({"policy": [{"platform": "facebook"}]}, r"\.policy\[1\]\.platform: expected one of ok"),
        ({"policy": [{"topic": 5}]}, r"\.policy\[1\]\.topic: expected a non-empty string"),
        (
            {"policy": [{"topic": "a"}, {"topic": "b", "target_hours": "x"}]},
            r"\.policy\[2\]\.target_hours: expected a number",
        ),
        (
            {"policy": [{"topic": "a"}, {"topic": "a"}]},
            r"\.policy\[2\]: same topic, platform and community as policy\[1\]",
        ),
    ],
)
def test_bad_sla_table_is_rejected_with_the_key_path(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        sla_settings_from_mapping(data, WHERE)
    assert WHERE in str(info.value)  # the table is named


def test_a_community_page_can_have_its_own_policy_and_a_topics_policy_still_beats_it() -> None:
    settings = sla_settings_from_mapping(
        {
            "policy": [
                {"community": "217000001", "target_hours": 9},
                {"topic": "medical", "target_hours": 2},
                {"platform": "ok", "target_hours": 12},
            ]
        },
        WHERE,
    )
    start = msk("2026-11-24T10:00")
    page = deadline(start, None, "trade", "vk", settings, community="217000001")
    other_page = deadline(start, None, "trade", "vk", settings, community="217000002")
    assert page.policy.target_hours == 9  # that page's own target
    assert other_page.policy.target_hours == 8  # every other page keeps the default
    assert deadline(start, None, "medical", "vk", settings, "217000001").policy.target_hours == 2
    assert deadline(start, None, "trade", "ok", settings, "217000001").policy.target_hours == 9


def test_the_ingest_deadline_policy_passes_the_comments_community_to_the_rules() -> None:
    settings = sla_settings_from_mapping(
        {"cap_hours": 0, "policy": [{"community": "42", "target_hours": 2}]}, WHERE
    )
    policy = working_hours_policy(settings)

    def due_for(community: str) -> datetime:
        comment = Comment(
            platform=Platform.VK,
            community=community,
            post_id="1",
            external_id="1",
            author_id="1001",
            text="Магазин не вернул деньги",
            created_at=msk("2026-11-24T10:00"),
        )
        return policy(comment, comment.created_at, "trade", False).due_at

    assert due_for("42") == msk("2026-11-24T12:00").astimezone(UTC)
    assert due_for("43") == msk("2026-11-24T18:00").astimezone(UTC)


def test_an_urgent_comment_gets_the_shorter_urgent_deadline() -> None:
    start = msk("2026-11-24T10:00")
    default = sla_settings_from_mapping({}, WHERE)
    assert deadline(start, None, "housing", "vk", default, urgent=True).due == msk(
        "2026-11-24T12:00"
    )
    assert deadline(start, None, "housing", "vk", default).due == msk("2026-11-24T18:00")
    three = sla_settings_from_mapping({"urgent_hours": 3}, WHERE)
    assert deadline(start, None, None, "vk", three, urgent=True).due == msk("2026-11-24T13:00")
    # a topic whose own target is shorter keeps it; 0 turns the urgent policy off
    fast = sla_settings_from_mapping({"policy": [{"topic": "food", "target_hours": 1}]}, WHERE)
    assert deadline(start, None, "food", "vk", fast, urgent=True).due == msk("2026-11-24T11:00")
    off = sla_settings_from_mapping({"urgent_hours": 0}, WHERE)
    assert deadline(start, None, None, "vk", off, urgent=True).due == msk("2026-11-24T18:00")
