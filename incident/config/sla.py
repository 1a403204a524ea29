"""The ``[sla]`` table -> ``incident.sla.SlaSettings`` (the settings and the deadline arithmetic
live in the pure core, ``incident.sla``; this module only reads the table).

Every key is optional; the values shown are the defaults except where marked "example"::

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
    urgent_hours = 2                   # comments the rules flag urgent (poisoning, no
                                       # heating...): first answer within N working hours
                                       # when that is shorter than their policy's; 0 = off

    # Per topic, platform and/or community page; the most specific match wins (a topic beats
    # a community, which beats a platform: topic+community+platform first, platform alone
    # last); keys left out inherit the [sla] values above. ``community`` is the page's id on
    # its platform (a VK group id, an OK group id, a Telegram channel's username).
    # [[sla.policy]]                   # example
    # topic = "roads"
    # platform = "telegram"            # a platform's name: vk, ok or telegram
    # target_hours = 4
    # cap_hours = 12
    # final_answer_days = 7

The clock's semantics are described in ``incident.sla``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import time, timedelta
from typing import Any

from incident.config.reader import ConfigError, Table, describe, parse_clock
from incident.models import Platform
from incident.sla import ClockStart, PolicyRule, SlaPolicy, SlaSettings
from incident.workcal import MAX_WORKING_HOURS, WorkingCalendar

__all__ = ["sla_settings_from_mapping"]

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
        "urgent_hours",
        "policy",
    }
)
_POLICY_KEYS = frozenset(
    {"topic", "platform", "community", "target_hours", "cap_hours", "final_answer_days"}
)


def sla_settings_from_mapping(data: Mapping[str, Any], where: str) -> SlaSettings:
    """Validate the ``[sla]`` table (an empty mapping gives the documented defaults).

    Raises ``ConfigError`` (a ``ValueError``) naming ``where`` and the key path, e.g.
    ``config.toml [sla].policy[2].platform: ...`` (policies are counted from 1).
    """
    top = Table(data, where, _TOP_KEYS)
    calendar = _calendar(top)
    target, cap, final = _policy(top, SlaPolicy(), final_default=0)
    default_policy = SlaPolicy(target_hours=target, cap_hours=cap, final_answer_days=final)

    clock_starts_raw = top.text("clock_starts", ClockStart.PUBLISHED.value, nonempty=True)
    try:
        clock_starts = ClockStart(clock_starts_raw)
    except ValueError:
        raise ConfigError(
            f'{top.path("clock_starts")}: expected "published" or "seen", got {clock_starts_raw!r}'
        ) from None
    warn_at = top.number("warn_at", 0.75, low=0, high=1)
    if warn_at == 0:
        raise ConfigError(f"{top.path('warn_at')}: must be greater than 0")

    rules: list[PolicyRule] = []
    seen: dict[tuple[str | None, str | None, str | None], int] = {}
    platforms = sorted(p.value for p in Platform)
    policies = top.tables("policy", top.path("policy"), top.path("policy[{n}]"), _POLICY_KEYS)
    for n, reader in enumerate(policies, start=1):
        topic = reader.optional_text("topic", nonempty=True)
        platform = reader.optional_text("platform", nonempty=True)
        if platform is not None and platform not in platforms:
            raise ConfigError(
                f"{reader.path('platform')}: expected one of {', '.join(platforms)}, "
                f"got {platform!r}"
            )
        community = reader.optional_text("community", nonempty=True)
        if topic is None and platform is None and community is None:
            raise ConfigError(f"{reader.where}: set topic, platform, community or several")
        key = (topic, platform, community)
        if key in seen:
            raise ConfigError(
                f"{reader.where}: same topic, platform and community as policy[{seen[key]}]"
            )
        seen[key] = n
        target, cap, final = _policy(
            reader, default_policy, final_default=default_policy.final_answer_days or 0
        )
        reader.done()
        rules.append(
            PolicyRule(
                topic=topic,
                platform=platform,
                community=community,
                policy=SlaPolicy(target_hours=target, cap_hours=cap, final_answer_days=final),
            )
        )
    urgent_hours = top.number("urgent_hours", 2, low=0, high=MAX_WORKING_HOURS)
    top.done()
    return SlaSettings(
        calendar=calendar,
        default_policy=default_policy,
        rules=tuple(rules),
        clock_starts=clock_starts,
        warn_at=warn_at,
        urgent_policy=(
            SlaPolicy(target_hours=urgent_hours, cap_hours=default_policy.cap_hours)
            if urgent_hours
            else None
        ),
    )


def _calendar(top: Table) -> WorkingCalendar:
    timezone = top.text("timezone", "Europe/Moscow", nonempty=True)
    start = top.clock("workday_start", "09:00")
    end = top.clock("workday_end", "18:00")
    lunch: tuple[time, time] | None = None
    if top.has("lunch"):
        raw_lunch = top.raw("lunch")
        if not isinstance(raw_lunch, Sequence) or isinstance(raw_lunch, str) or len(raw_lunch) != 2:
            raise ConfigError(
                f'{top.path("lunch")}: expected ["HH:MM", "HH:MM"], got {describe(raw_lunch)}'
            )
        lunch = (
            parse_clock(raw_lunch[0], f"{top.path('lunch')}[0]"),
            parse_clock(raw_lunch[1], f"{top.path('lunch')}[1]"),
        )
    shortening = top.number("pre_holiday_shortening_hours", 1, low=0, high=23)
    try:
        return WorkingCalendar(
            timezone=timezone,
            workday_start=start,
            workday_end=end,
            lunch=lunch,
            production_calendar=top.flag("production_calendar", True),
            pre_holiday_shortening=timedelta(hours=shortening),
            extra_days_off=top.dates("extra_days_off"),
            extra_working_days=top.dates("extra_working_days"),
            extra_short_days=top.dates("extra_short_days"),
            extra_full_days=top.dates("extra_full_days"),
        )
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"{top.where}: {exc}") from None


def _policy(
    reader: Table, base: SlaPolicy, *, final_default: int
) -> tuple[float, float | None, int | None]:
    target = reader.number("target_hours", base.target_hours, low=1 / 60, high=MAX_WORKING_HOURS)
    cap = reader.number("cap_hours", base.cap_hours or 0, low=0, high=MAX_WORKING_HOURS)
    final = reader.integer("final_answer_days", final_default, low=0, high=366)
    return target, (cap or None), (final or None)
