"""Statistics per platform: each platform's line equals the figures filtered by that platform,
on SQLite and PostgreSQL, with and without the web app's cache; together they add up to the
whole."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine

from incident import stats
from incident.stats import Filters, StatsCache
from incident.stats.model import PlatformRow
from tests.world import NOW, OCTOBER, T0, World, percentile_cont

PLATFORMS = ("vk", "ok", "telegram")
QUARTER = Filters.for_days(date(2026, 9, 1), date(2026, 11, 30))


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)


def fill(world: World) -> dict[str, list[float]]:
    """Incidents of every kind on each platform, in September and October; returns each
    platform's October answer times by a person, in calendar hours."""
    hours: dict[str, list[float]] = {p: [] for p in PLATFORMS}
    for n, platform in enumerate(PLATFORMS):
        for k in range(2 + n * 2):  # a different number of incidents per platform
            opened = T0 + timedelta(days=k + n, hours=k % 3)
            after = timedelta(hours=1 + k * (n + 1))
            world.incident(opened, answered_after=after, platform=platform, topic="trade")
            hours[platform].append(after.total_seconds() / 3600)
        world.incident(T0 + timedelta(days=1), platform=platform)  # overdue, no answer
        world.incident(T0 + timedelta(days=2), platform=platform, closed=True)
        by_platform = timedelta(minutes=20 + 10 * n)
        world.incident(T0, answered_after=by_platform, by="platform", platform=platform)
        hours[platform].append(by_platform.total_seconds() / 3600)
        world.incident(T0, answered_after=timedelta(minutes=5), by="worker", platform=platform)
        world.incident(NOW - timedelta(hours=1), platform=platform)  # November, not yet due
        september = T0 - timedelta(days=20 - n)
        world.incident(september, answered_after=timedelta(hours=3 + n), platform=platform)
    return hours


def check(
    world: World, filters: Filters, cache: StatsCache | None = None
) -> tuple[PlatformRow, ...]:
    with world.engine.begin() as conn:
        overall = stats.compute(conn, filters, NOW, cache)
        lines = stats.by_platform(conn, filters, NOW, PLATFORMS, cache)
    rows = {row.platform: row for row in lines}
    assert sum(r.comments for r in rows.values()) == overall.comments
    assert sum(r.answered for r in rows.values()) == overall.answered
    assert sum(r.moves_to_private for r in rows.values()) == overall.moves_to_private
    for platform, row in rows.items():
        alone = world.compute(replace(filters, platform=platform), NOW)
        assert row == PlatformRow(
            platform=platform,
            comments=alone.comments,
            answered=alone.answered,
            closed_without_answer=alone.closed_without_answer,
            on_time=alone.on_time,
            late=alone.late,
            overdue=alone.overdue_unanswered,
            median_working_hours=alone.median_working_hours,
            p90_working_hours=alone.p90_working_hours,
            median_hours=alone.median_hours,
            p90_hours=alone.p90_hours,
            moves_to_private=alone.moves_to_private,
            redirects=alone.redirects,
        )
        assert row.on_time_share == alone.on_time_share
        assert row.answered_share == alone.answered_share
    return lines


def test_each_platform_line_equals_the_figures_filtered_by_that_platform(world: World) -> None:
    hours = fill(world)
    october = check(world, OCTOBER)
    assert [r.platform for r in october] == ["telegram", "ok", "vk"]  # busiest first
    for row in october:
        assert row.comments > 0
        assert row.answered > 0
        assert row.overdue == 2  # the unanswered one, and the one only the worker answered
        assert row.closed_without_answer == 1
        assert row.median_hours == pytest.approx(percentile_cont(hours[row.platform], 0.5))
        assert row.p90_hours == pytest.approx(percentile_cont(hours[row.platform], 0.9))
    check(world, QUARTER)  # several months merged
    check(world, replace(QUARTER, topic="trade"))  # with another filter
    assert [r.platform for r in check(world, replace(OCTOBER, platform="ok"))] == ["ok"]


def test_the_cache_gives_the_same_lines_as_a_fresh_computation(world: World) -> None:
    fill(world)
    cache = StatsCache()
    first = check(world, QUARTER, cache)
    again = check(world, QUARTER, cache)
    assert cache.hits > 0
    assert again == first
    world.incident(T0 + timedelta(days=3), answered_after=timedelta(hours=2), platform="ok")
    changed = check(world, QUARTER, cache)
    ok = {r.platform: r for r in changed}["ok"]
    assert ok.comments == {r.platform: r for r in first}["ok"].comments + 1


def test_the_json_has_a_line_per_platform_with_its_shares(world: World) -> None:
    fill(world)
    lines = {line["platform"]: line for line in (r.to_json() for r in check(world, OCTOBER))}
    assert set(lines) == set(PLATFORMS)
    for line in lines.values():
        assert line["on_time_share"] == line["on_time"] / (line["answered"] + line["overdue"])
        assert {"median_working_hours", "p90_working_hours", "median_hours", "p90_hours"} <= set(
            line
        )


def test_a_period_without_incidents_has_no_platform_lines(world: World) -> None:
    assert check(world, OCTOBER) == ()
