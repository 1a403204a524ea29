"""Answer deadlines in working hours: policies, the ``[sla]`` settings, and ``deadline()``.

Pure: no clock, no I/O, nothing from db/sources/web/daemon. The working-time arithmetic and
the production calendar live in ``incident.workcal`` (re-exported here).

The ``[sla]`` table of ``config.toml`` is read by ``incident.config.sla`` (its docstring lists
every key with its default).

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

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

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
    "response_figures",
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
    """A policy for a topic, a platform and/or one community page (None matches any)."""

    topic: str | None
    platform: str | None
    policy: SlaPolicy
    community: str | None = None  # the page's id on its platform, as incidents store it

    def __post_init__(self) -> None:
        if self.topic is None and self.platform is None and self.community is None:
            raise ValueError("a policy rule needs a topic, a platform, a community or some")

    @property
    def specificity(self) -> int:
        """Topic beats community beats platform: a page's own target still gives way to a
        topic's (urgent medical complaints stay fast on every page)."""
        return (
            (4 if self.topic is not None else 0)
            + (2 if self.community is not None else 0)
            + (1 if self.platform is not None else 0)
        )

    def matches(self, topic: str | None, platform: str | None, community: str | None) -> bool:
        """Whether the rule applies to a comment of ``topic`` on this ``platform`` page."""
        return (
            (self.topic is None or self.topic == topic)
            and (self.platform is None or self.platform == platform)
            and (self.community is None or self.community == community)
        )


@dataclass(frozen=True, slots=True)
class SlaSettings:
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    default_policy: SlaPolicy = field(default_factory=SlaPolicy)
    rules: tuple[PolicyRule, ...] = ()
    clock_starts: ClockStart = ClockStart.PUBLISHED
    warn_at: float = 0.75
    # Comments the classifier flags urgent (poisoning, no heating...): their budget when it is
    # shorter than their topic's or page's. None: urgent comments get no shorter deadline.
    urgent_policy: SlaPolicy | None = field(
        default_factory=lambda: SlaPolicy(target_hours=2.0, cap_hours=24.0)
    )

    def __post_init__(self) -> None:
        if not 0 < self.warn_at <= 1:
            raise ValueError("warn_at must be in (0, 1]")
        seen: set[tuple[str | None, str | None, str | None]] = set()
        for rule in self.rules:
            key = (rule.topic, rule.platform, rule.community)
            if key in seen:
                topic, platform, community = key
                raise ValueError(
                    f"two policy rules for topic={topic!r} platform={platform!r} "
                    f"community={community!r}"
                )
            seen.add(key)

    def policy_for(
        self,
        topic: str | None,
        platform: str | None,
        community: str | None = None,
        *,
        urgent: bool = False,
    ) -> SlaPolicy:
        """The most specific rule matching (see ``PolicyRule.specificity``), else default;
        for an ``urgent`` comment the urgent policy instead when its target is shorter."""
        best: PolicyRule | None = None
        for rule in self.rules:
            if rule.matches(topic, platform, community) and (
                best is None or rule.specificity > best.specificity
            ):
                best = rule
        found = best.policy if best is not None else self.default_policy
        quick = self.urgent_policy
        if urgent and quick is not None and quick.target_hours < found.target_hours:
            return quick
        return found


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
    community: str | None = None,
    *,
    urgent: bool = False,
) -> Deadline:
    """The deadline of a comment of ``topic`` on ``platform`` under ``settings`` (``urgent``:
    the classifier flagged it urgent, see ``SlaSettings.urgent_policy``)."""
    _require_aware(published_at, "published_at")
    if seen_at is not None:
        _require_aware(seen_at, "seen_at")
    calendar = settings.calendar
    policy = settings.policy_for(topic, platform, community, urgent=urgent)
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


def response_figures(
    opened_at: datetime,
    first_response_at: datetime,
    due_at: datetime | None,
    settings: SlaSettings,
) -> dict[str, Any]:
    """The columns to store when an incident gets its first answer.

    ``response_seconds``: calendar seconds from the raw clock start; ``response_working_seconds``:
    working seconds under the deployment's calendar (time outside working hours does not
    count, so a comment from Friday night answered at 09:30 on Monday took 30 minutes);
    ``on_time``: ``first_response_at <= due_at`` (None without a deadline). Never negative.
    """
    for value, name in ((opened_at, "opened_at"), (first_response_at, "first_response_at")):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    calendar_seconds = max(0.0, (first_response_at - opened_at).total_seconds())
    working = working_time_between(opened_at, first_response_at, settings.calendar)
    return {
        "response_seconds": round(calendar_seconds),
        "response_working_seconds": round(working.total_seconds()),
        "on_time": None if due_at is None else first_response_at <= due_at,
    }
