"""Answer deadlines in working hours: policies, the ``[sla]`` settings, and ``deadline()``.

Pure: no clock, no I/O, nothing from db/sources/web/daemon. The working-time arithmetic and
the production calendar live in ``incident.workcal`` (re-exported here).

Configuration (``config.toml``; every key is optional, the values shown are the defaults
except where marked "example")::

    [sla]
    timezone = "Europe/Moscow"
    workday_start = "09:00"
    workday_end = "18:00"
    # lunch = ["13:00", "14:00"]       # example; omit (default) to count the lunch hour
    production_calendar = true         # Russian holidays, moved days off, working Saturdays
    pre_holiday_shortening_hours = 1   # the working day before a public holiday; 0 = off
    extra_days_off = []                # example: [2026-12-30] (TOML dates or "YYYY-MM-DD")
    extra_working_days = []            # example: [2026-12-26]
    extra_short_days = []              # shortened although the rule says full length
    extra_full_days = []               # full length although the rule says shortened
    target_hours = 8                   # first answer within N working hours
    cap_hours = 24                     # ... and within N calendar hours; 0 = no cap
    clock_starts = "published"         # or "seen": when the worker first saw the comment
    warn_at = 0.75                     # warn when this share of the budget is used
    final_answer_days = 0              # interim-then-final mode: final answer within N
                                       # working days; 0 = off

    # Per topic and/or platform; the most specific match wins (topic+platform, then topic,
    # then platform); keys left out inherit the [sla] values above.
    # [[sla.policy]]                   # example
    # topic = "roads"
    # platform = "vk"                  # vk | ok | telegram
    # target_hours = 4
    # cap_hours = 12
    # final_answer_days = 7

Clock semantics (the caller stores the timestamps; this module only does arithmetic)
---------------------------------------------------------------------------------------
* The clock starts when the comment is published (``clock_starts = "published"``) or when
  the worker first saw it (``"seen"``; falls back to the published time if unknown).
* A comment that arrives outside working time starts its clock at the next working minute;
  ``Deadline.clock_start`` is that moment. The calendar-hour cap counts from the raw start.
* The clock stops at the community's first public answer (posted from here or directly on
  the platform). The response time is ``working_time_between(deadline.clock_start, answered_at)``
  and the answer is on time when ``deadline.met_by(answered_at)``.
* A follow-up comment by the same author after an answer starts a new clock: compute a new
  ``deadline()`` from the follow-up's timestamps.
* Marking an incident "no answer needed" stops the clock: it neither breaches nor counts as
  late; do not ask ``stage()`` about it any more.
* ``due`` is the earlier of ``target_hours`` working hours and ``cap_hours`` calendar hours;
  ``warn`` is the earlier of ``warn_at`` of each budget. The cap ignores the calendar by
  design: with the defaults a comment published on Friday at 20:00 is due on Saturday at
  20:00, before its working clock even starts on Monday; ``cap_hours = 0`` disables the cap.
* In interim-then-final mode ``due`` is the interim answer's deadline and ``final_due`` the
  end of the N-th working day after the day the clock starts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from incident.models import Platform
from incident.workcal import (
    MAX_WORKING_HOURS,
    DayInfo,
    WorkingCalendar,
    add_working_days,
    due_at,
    next_working_moment,
    working_time_between,
)

__all__ = [
    "MAX_WORKING_HOURS",
    "ClockStart",
    "DayInfo",
    "Deadline",
    "DeadlineStage",
    "PolicyRule",
    "SlaPolicy",
    "SlaSettings",
    "WorkingCalendar",
    "add_working_days",
    "deadline",
    "due_at",
    "next_working_moment",
    "sla_settings_from_mapping",
    "working_time_between",
]


class ClockStart(StrEnum):
    PUBLISHED = "published"
    SEEN = "seen"


class DeadlineStage(StrEnum):
    ON_TRACK = "on_track"
    WARNING = "warning"  # past the warn moment, not yet due
    BREACHED = "breached"  # past due (a moment exactly at due is still on time)


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Budgets for one kind of comment."""

    target_hours: float = 8.0  # first answer, working hours
    cap_hours: float | None = 24.0  # first answer, calendar hours; None = no cap
    final_answer_days: int | None = None  # interim-then-final mode: working days; None = off

    def __post_init__(self) -> None:
        if not 0 < self.target_hours <= MAX_WORKING_HOURS:
            raise ValueError(f"target_hours must be in (0, {MAX_WORKING_HOURS:g}]")
        if self.cap_hours is not None and not 0 < self.cap_hours <= MAX_WORKING_HOURS:
            raise ValueError(f"cap_hours must be in (0, {MAX_WORKING_HOURS:g}] or None")
        if self.final_answer_days is not None and not 0 < self.final_answer_days <= 366:
            raise ValueError("final_answer_days must be in 1..366 or None")


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """A policy for a topic and/or a platform (None matches any)."""

    topic: str | None
    platform: str | None
    policy: SlaPolicy

    def __post_init__(self) -> None:
        if self.topic is None and self.platform is None:
            raise ValueError("a policy rule needs a topic, a platform or both")

    @property
    def specificity(self) -> int:
        return (2 if self.topic is not None else 0) + (1 if self.platform is not None else 0)

    def matches(self, topic: str | None, platform: str | None) -> bool:
        return (self.topic is None or self.topic == topic) and (
            self.platform is None or self.platform == platform
        )


@dataclass(frozen=True, slots=True)
class SlaSettings:
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    default_policy: SlaPolicy = field(default_factory=SlaPolicy)
    rules: tuple[PolicyRule, ...] = ()
    clock_starts: ClockStart = ClockStart.PUBLISHED
    warn_at: float = 0.75

    def __post_init__(self) -> None:
        if not 0 < self.warn_at <= 1:
            raise ValueError("warn_at must be in (0, 1]")
        seen: set[tuple[str | None, str | None]] = set()
        for rule in self.rules:
            key = (rule.topic, rule.platform)
            if key in seen:
                raise ValueError(f"two policy rules for topic={key[0]!r} platform={key[1]!r}")
            seen.add(key)

    def policy_for(self, topic: str | None, platform: str | None) -> SlaPolicy:
        """The most specific rule matching (topic+platform > topic > platform), else default."""
        best: PolicyRule | None = None
        for rule in self.rules:
            if rule.matches(topic, platform) and (
                best is None or rule.specificity > best.specificity
            ):
                best = rule
        return best.policy if best is not None else self.default_policy


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a comment must be answered. All datetimes are in the calendar's zone."""

    started_at: datetime  # the raw clock start (published or seen)
    clock_start: datetime  # the first working moment at or after started_at
    target_due: datetime  # clock start + target working hours
    cap_due: datetime | None  # started_at + cap calendar hours
    due: datetime  # the earlier of target_due and cap_due
    warn: datetime  # when to warn that the deadline is near
    final_due: datetime | None  # interim-then-final mode: the final answer's deadline
    policy: SlaPolicy

    def stage(self, now: datetime) -> DeadlineStage:
        _require_aware(now, "now")
        if now > self.due:
            return DeadlineStage.BREACHED
        if now >= self.warn:
            return DeadlineStage.WARNING
        return DeadlineStage.ON_TRACK

    def met_by(self, answered_at: datetime) -> bool:
        """Whether a first answer at ``answered_at`` meets the deadline (``due`` inclusive)."""
        _require_aware(answered_at, "answered_at")
        return answered_at <= self.due


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


def deadline(
    published_at: datetime,
    seen_at: datetime | None,
    topic: str | None,
    platform: str | None,
    settings: SlaSettings,
) -> Deadline:
    """The deadline of a comment of ``topic`` on ``platform`` under ``settings``."""
    _require_aware(published_at, "published_at")
    if seen_at is not None:
        _require_aware(seen_at, "seen_at")
    calendar = settings.calendar
    policy = settings.policy_for(topic, platform)
    raw = seen_at if settings.clock_starts is ClockStart.SEEN and seen_at is not None else None
    started_at = (raw or published_at).astimezone(calendar.tz)
    clock_start = next_working_moment(started_at, calendar)
    target_due = due_at(clock_start, policy.target_hours, calendar)
    warn = due_at(clock_start, policy.target_hours * settings.warn_at, calendar)
    cap_due: datetime | None = None
    due = target_due
    if policy.cap_hours is not None:
        cap_due = started_at + timedelta(hours=policy.cap_hours)
        due = min(due, cap_due)
        warn = min(warn, started_at + timedelta(hours=policy.cap_hours * settings.warn_at))
    final_due = (
        add_working_days(clock_start, policy.final_answer_days, calendar)
        if policy.final_answer_days is not None
        else None
    )
    return Deadline(
        started_at=started_at,
        clock_start=clock_start,
        target_due=target_due,
        cap_due=cap_due,
        due=due,
        warn=warn,
        final_due=final_due,
        policy=policy,
    )


# ----- the [sla] table ----------------------------------------------------------------------

_TOP_KEYS = frozenset(
    {
        "timezone",
        "workday_start",
        "workday_end",
        "lunch",
        "production_calendar",
        "pre_holiday_shortening_hours",
        "extra_days_off",
        "extra_working_days",
        "extra_short_days",
        "extra_full_days",
        "target_hours",
        "cap_hours",
        "clock_starts",
        "warn_at",
        "final_answer_days",
        "policy",
    }
)
_POLICY_KEYS = frozenset({"topic", "platform", "target_hours", "cap_hours", "final_answer_days"})
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


class _Reader:
    def __init__(self, data: Mapping[str, Any], where: str, allowed: frozenset[str]) -> None:
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected a table, got {_describe(data)}")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(
                f"{where}: unknown key(s): {', '.join(unknown)} "
                f"(known: {', '.join(sorted(allowed))})"
            )
        self.data = data
        self.where = where

    def path(self, key: str) -> str:
        return f"{self.where}.{key}"

    def string(self, key: str, default: str) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or not value:
            raise ValueError(
                f"{self.path(key)}: expected a non-empty string, got {_describe(value)}"
            )
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise ValueError(f"{self.path(key)}: expected true or false, got {_describe(value)}")
        return value

    def number(self, key: str, default: float, *, low: float, high: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.path(key)}: expected a number, got {_describe(value)}")
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"{self.path(key)}: {value} is out of range {low:g}..{high:g}")
        return float(value)

    def integer(self, key: str, default: int, *, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{self.path(key)}: expected an integer, got {_describe(value)}")
        if not low <= value <= high:
            raise ValueError(f"{self.path(key)}: {value} is out of range {low}..{high}")
        return value

    def clock(self, key: str, default: str) -> time:
        return _parse_clock(self.data.get(key, default), self.path(key))

    def dates(self, key: str) -> frozenset[date]:
        value = self.data.get(key, [])
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise ValueError(
                f"{self.path(key)}: expected an array of dates, got {_describe(value)}"
            )
        result = set()
        for i, item in enumerate(value):
            result.add(_parse_date(item, f"{self.path(key)}[{i}]"))
        return frozenset(result)


def _parse_clock(value: Any, path: str) -> time:
    if not isinstance(value, str) or not (match := _HHMM.fullmatch(value)):
        raise ValueError(f'{path}: expected "HH:MM" (24-hour), got {_describe(value)}')
    return time(int(match[1]), int(match[2]))


def _parse_date(value: Any, path: str) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"{path}: expected a date, got a date-time {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(
        f'{path}: expected a date (2026-12-31 or "2026-12-31"), got {_describe(value)}'
    )


def _parse_policy(
    reader: _Reader, base: SlaPolicy, *, final_default: int
) -> tuple[float, float | None, int | None]:
    target = reader.number("target_hours", base.target_hours, low=1 / 60, high=MAX_WORKING_HOURS)
    cap = reader.number("cap_hours", base.cap_hours or 0, low=0, high=MAX_WORKING_HOURS)
    final = reader.integer("final_answer_days", final_default, low=0, high=366)
    return target, (cap or None), (final or None)


def sla_settings_from_mapping(data: Mapping[str, Any], where: str) -> SlaSettings:
    """Validate the ``[sla]`` table (an empty mapping gives the documented defaults).

    Raises ``ValueError`` naming ``where`` and the key path, e.g.
    ``config.toml [sla].policy[2].platform: ...`` (policies are counted from 1).
    """
    top = _Reader(data, where, _TOP_KEYS)
    timezone = top.string("timezone", "Europe/Moscow")
    start = top.clock("workday_start", "09:00")
    end = top.clock("workday_end", "18:00")
    lunch: tuple[time, time] | None = None
    if "lunch" in data:
        raw_lunch = data["lunch"]
        if not isinstance(raw_lunch, Sequence) or isinstance(raw_lunch, str) or len(raw_lunch) != 2:
            raise ValueError(
                f'{top.path("lunch")}: expected ["HH:MM", "HH:MM"], got {_describe(raw_lunch)}'
            )
        lunch = (
            _parse_clock(raw_lunch[0], f"{top.path('lunch')}[0]"),
            _parse_clock(raw_lunch[1], f"{top.path('lunch')}[1]"),
        )
    shortening = top.number("pre_holiday_shortening_hours", 1, low=0, high=23)
    try:
        calendar = WorkingCalendar(
            timezone=timezone,
            workday_start=start,
            workday_end=end,
            lunch=lunch,
            production_calendar=top.boolean("production_calendar", True),
            pre_holiday_shortening=timedelta(hours=shortening),
            extra_days_off=top.dates("extra_days_off"),
            extra_working_days=top.dates("extra_working_days"),
            extra_short_days=top.dates("extra_short_days"),
            extra_full_days=top.dates("extra_full_days"),
        )
    except ValueError as exc:
        if str(exc).startswith(where):
            raise
        raise ValueError(f"{where}: {exc}") from None

    target, cap, final = _parse_policy(top, SlaPolicy(), final_default=0)
    default_policy = SlaPolicy(target_hours=target, cap_hours=cap, final_answer_days=final)

    clock_starts_raw = top.string("clock_starts", ClockStart.PUBLISHED.value)
    try:
        clock_starts = ClockStart(clock_starts_raw)
    except ValueError:
        raise ValueError(
            f'{top.path("clock_starts")}: expected "published" or "seen", got {clock_starts_raw!r}'
        ) from None
    warn_at = top.number("warn_at", 0.75, low=0, high=1)
    if warn_at == 0:
        raise ValueError(f"{top.path('warn_at')}: must be greater than 0")

    raw_rules = data.get("policy", [])
    if not isinstance(raw_rules, Sequence) or isinstance(raw_rules, str):
        raise ValueError(
            f"{top.path('policy')}: expected an array of tables ([[sla.policy]]), "
            f"got {_describe(raw_rules)}"
        )
    rules: list[PolicyRule] = []
    seen: dict[tuple[str | None, str | None], int] = {}
    platforms = sorted(p.value for p in Platform)
    for n, raw in enumerate(raw_rules, start=1):
        reader = _Reader(raw, top.path(f"policy[{n}]"), _POLICY_KEYS)
        topic = reader.string("topic", "-") if "topic" in raw else None
        platform = reader.string("platform", "-") if "platform" in raw else None
        if platform is not None and platform not in platforms:
            raise ValueError(
                f"{reader.path('platform')}: expected one of {', '.join(platforms)}, "
                f"got {platform!r}"
            )
        if topic is None and platform is None:
            raise ValueError(f"{reader.where}: set topic, platform or both")
        key = (topic, platform)
        if key in seen:
            raise ValueError(f"{reader.where}: same topic and platform as policy[{seen[key]}]")
        seen[key] = n
        target, cap, final = _parse_policy(
            reader, default_policy, final_default=default_policy.final_answer_days or 0
        )
        rules.append(
            PolicyRule(
                topic=topic,
                platform=platform,
                policy=SlaPolicy(target_hours=target, cap_hours=cap, final_answer_days=final),
            )
        )
    return SlaSettings(
        calendar=calendar,
        default_policy=default_policy,
        rules=tuple(rules),
        clock_starts=clock_starts,
        warn_at=warn_at,
    )
