"""The statistics cache: months computed once, recomputed exactly when something in them
changes (seen through the triggers of migration 0005), merged exactly into a period's figures.

Every database test runs on SQLite and on PostgreSQL. Each compares the cached figures with a
fresh computation of the same database: the cache may only ever save work, never change a
figure.
"""

from __future__ import annotations

import random
import statistics
from array import array
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select, update

from incident import db, inbox, stats
from incident.stats import Filters, StatsCache, merge, percentiles
from tests.world import MSK, World, percentile_cont

# Three months of incidents, viewed on 2 December 2026
QUARTER = Filters.for_days(date(2026, 9, 1), date(2026, 11, 30))
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=MSK)


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)


def fill(world: World, seed: int = 7) -> list[int]:
    """Forty incidents a month: answered at random speeds, some open, some closed."""
    rng = random.Random(seed)
    ids = []
    for month in (9, 10, 11):
        for k in range(40):
            opened = datetime(2026, month, 1 + k % 28, 9 + k % 9, rng.randrange(60), tzinfo=MSK)
            roll = rng.random()
            ids.append(
                world.incident(
                    opened,
                    answered_after=timedelta(minutes=rng.randrange(5, 3000))
                    if roll < 0.7
                    else None,
                    closed=0.7 <= roll < 0.8,
                    topic=rng.choice(["trade", "food", "housing", None]),
                    community=rng.choice(["42", "43"]),
                )
            )
    return ids


def cached(
    world: World, cache: StatsCache, filters: Filters = QUARTER, now: datetime = NOW
) -> stats.Stats:
    with world.engine.begin() as conn:
        return stats.compute(conn, filters, now, cache)


def fresh(world: World, filters: Filters = QUARTER, now: datetime = NOW) -> stats.Stats:
    return world.compute(filters, now)


def test_months_cut_the_period_at_local_month_starts() -> None:
    period = Filters(
        start=datetime(2026, 9, 15, 12, 0, tzinfo=MSK),
        end=datetime(2026, 11, 10, 0, 0, tzinfo=MSK),
        community="42",
    )
    pieces = stats.months(period)
    assert [(p.start, p.end) for p in pieces] == [
        (period.start, datetime(2026, 10, 1, tzinfo=MSK)),
        (datetime(2026, 10, 1, tzinfo=MSK), datetime(2026, 11, 1, tzinfo=MSK)),
        (datetime(2026, 11, 1, tzinfo=MSK), period.end),
    ]
    assert all(p.community == "42" for p in pieces)


@given(
    runs=st.lists(st.lists(st.integers(0, 200_000), max_size=30), min_size=1, max_size=6),
    p=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]),
)
def test_a_percentile_over_sorted_runs_is_percentile_cont_of_all_values(
    runs: list[list[int]], p: float
) -> None:
    values = sorted(v for run in runs for v in run)
    got = percentiles.percentile_cont([sorted(run) for run in runs], p)
    if not values:
        assert got is None
    elif p in (0.0, 1.0):
        assert got == (values[0] if p == 0.0 else values[-1])
    else:
        assert got == pytest.approx(percentile_cont([float(v) for v in values], p))


@given(
    days=st.lists(st.lists(st.integers(0, 50), max_size=40), min_size=1, max_size=8),
    changes=st.lists(
        st.tuples(st.integers(0, 7), st.lists(st.integers(0, 50), max_size=40)), max_size=4
    ),
)
def test_a_month_s_sorted_times_updated_for_changed_days_are_those_of_all_its_days(
    days: list[list[int]], changes: list[tuple[int, list[int]]]
) -> None:
    runs = [array("q", sorted(day)) for day in days]
    month = merge.sorted_runs(runs)
    replaced = {i % len(runs): array("q", sorted(values)) for i, values in changes}
    got = merge.updated_runs(month, [runs[i] for i in replaced], [replaced[i] for i in replaced])
    expected = sorted(v for i, run in enumerate(days) if i not in replaced for v in run)
    assert list(got) == sorted(expected + [v for run in replaced.values() for v in run])
    if all(runs[i] == replaced[i] for i in replaced):
        assert got is month  # nothing changed: the same array, no copy


def test_a_percentile_remembered_by_the_cache_is_of_the_runs_asked_about() -> None:
    cache = StatsCache()
    runs = [array("q", [1, 5, 9]), array("q", [2, 3])]
    assert cache.percentile(runs, 0.5) == percentiles.percentile_cont(runs, 0.5) == 3.0
    assert cache.percentile(runs, 0.5) == 3.0  # the same arrays: remembered
    changed = [runs[0], array("q", [2, 3, 10, 11])]  # a month's new arrays after a change
    assert cache.percentile(changed, 0.5) == percentiles.percentile_cont(changed, 0.5) == 5.0
    assert cache.percentile(changed, 0.9) == percentiles.percentile_cont(changed, 0.9)


def test_a_percentile_asked_at_every_view_stays_remembered_while_others_come_and_go() -> None:
    # an unchanged actor's percentile, beside the percentiles of months that changed since:
    # forgetting everything when full made every few views compute every actor's anew
    cache = StatsCache()
    unchanged = [array("q", [1, 5, 9]), array("q", [2, 3])]
    changing = [array("q", [n]) for n in range(3 * StatsCache.MAX_PERCENTILES)]
    for run in changing:
        assert cache.percentile(unchanged, 0.9) == percentiles.percentile_cont(unchanged, 0.9)
        assert cache.percentile([run], 0.5) == run[0]
    assert cache.percentiles_computed == 1 + len(changing)
    assert cache.percentile([changing[0]], 0.5) == 0  # long forgotten: computed again
    assert cache.percentiles_computed == 2 + len(changing)


def test_cached_figures_are_the_fresh_figures_and_a_second_view_reads_no_month(
    world: World,
) -> None:
    fill(world)
    cache = StatsCache()
    first = cached(world, cache)
    assert first == fresh(world)
    assert (cache.hits, cache.misses, len(cache)) == (0, 3, 3)
    assert cached(world, cache) == first
    assert (cache.hits, cache.misses) == (3, 3)
    # another filter is other months
    one = Filters.for_days(date(2026, 9, 1), date(2026, 11, 30), community="42")
    assert cached(world, cache, one) == fresh(world, one)
    assert cache.misses == 6


def test_a_late_answer_to_an_old_incident_recomputes_its_month_only(world: World) -> None:
    fill(world)
    late = world.incident(datetime(2026, 9, 10, 11, 0, tzinfo=MSK))
    cache = StatsCache()
    before = cached(world, cache)
    answered_at = datetime(2026, 11, 30, 10, 0, tzinfo=MSK)
    world.answer(late, answered_at, by="anna")  # a person answers it from the staff app
    misses = cache.misses
    after = cached(world, cache)
    assert after == fresh(world)
    assert after.answered == before.answered + 1
    assert cache.misses == misses + 1  # September only


def test_a_reply_posted_later_and_a_topic_correction_show_on_the_next_view(
    world: World,
) -> None:
    ids = fill(world)
    target = world.incident(
        datetime(2026, 10, 5, 10, 0, tzinfo=MSK), answered_after=timedelta(hours=2)
    )
    world.reply(target, "move-to-private", posted=False)
    cache = StatsCache()
    before = cached(world, cache)
    with world.engine.begin() as conn:
        conn.execute(
            update(db.outbox).where(db.outbox.c.incident_id == target).values(status="posted")
        )
        conn.execute(
            update(db.incidents).where(db.incidents.c.id == ids[0]).values(topic="telecom")
        )
    after = cached(world, cache)
    assert after == fresh(world)
    assert after.moves_to_private == before.moves_to_private + 1
    assert "telecom" in dict(after.daily_volume)


def test_a_new_incident_dated_into_a_cached_month_is_counted(world: World) -> None:
    fill(world)
    cache = StatsCache()
    before = cached(world, cache)
    world.incident(datetime(2026, 9, 3, 12, 0, tzinfo=MSK), answered_after=timedelta(hours=1))
    after = cached(world, cache)
    assert after == fresh(world)
    assert after.comments == before.comments + 1


def test_a_month_expires_when_one_of_its_deadlines_passes(world: World) -> None:
    opened = datetime(2026, 11, 30, 10, 0, tzinfo=MSK)  # Monday: due within the working day
    world.incident(opened)
    cache = StatsCache()
    early = opened + timedelta(hours=1)
    late = opened + timedelta(days=3)
    assert cached(world, cache, now=early) == fresh(world, now=early)
    assert cached(world, cache, now=early).overdue_unanswered == 0
    assert cached(world, cache, now=late) == fresh(world, now=late)
    assert cached(world, cache, now=late).overdue_unanswered == 1


def test_a_month_computed_while_a_change_to_it_was_seen_keeps_that_day_stale(
    world: World,
) -> None:
    fill(world)
    cache = StatsCache()
    piece = stats.months(QUARTER)[0]
    with world.engine.begin() as conn:
        generation = cache.refresh(conn)
        part = stats.compute_month(conn, piece, NOW)
    world.incident(datetime(2026, 9, 20, 12, 0, tzinfo=MSK))  # committed meanwhile
    with world.engine.begin() as conn:
        cache.refresh(conn)  # another request sees the change
    cache.put(piece, part, generation)
    kept, stale = cache.lookup(piece, NOW)
    assert kept is part
    assert stale == {19}  # 20 September: read again before it is used
    october = stats.months(QUARTER)[1]
    with world.engine.begin() as conn:
        cache.put(october, stats.compute_month(conn, october, NOW), generation)
    assert cache.lookup(october, NOW)[1] == frozenset()  # the change was not in October
    assert cached(world, cache) == fresh(world)


def test_triggers_stamp_every_write_unless_it_sets_the_stamp_itself(world: World) -> None:
    incident = world.incident(datetime(2026, 10, 1, 10, 0, tzinfo=MSK))
    i = db.incidents.c

    def stamp() -> float | None:
        with world.engine.begin() as conn:
            value: float | None = conn.execute(
                select(i.changed_at).where(i.id == incident)
            ).scalar_one()
        return value

    assert stamp() is not None  # the insert
    with world.engine.begin() as conn:
        conn.execute(update(db.incidents).where(i.id == incident).values(changed_at=0.0))
    assert stamp() == 0.0  # an explicit stamp is kept
    with world.engine.begin() as conn:
        conn.execute(update(db.incidents).where(i.id == incident).values(assignee="anna"))
    first = stamp()
    assert first is not None
    assert first > datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    with world.engine.begin() as conn:
        conn.execute(update(db.incidents).where(i.id == incident).values(changed_at=0.0))
    world.reply(incident, "redirect")  # an outbox row stamps its incident and recounts it
    assert stamp() != 0.0
    with world.engine.begin() as conn:
        row = conn.execute(select(i.redirects, i.moves_to_private).where(i.id == incident)).one()
    assert tuple(row) == (1, 0)


def test_the_daily_medians_of_merged_months_match_each_day(world: World) -> None:
    fill(world, seed=11)
    cache = StatsCache()
    s = cached(world, cache)
    with world.engine.begin() as conn:
        rows = conn.execute(
            select(db.incidents.c.opened_at, db.incidents.c.response_working_seconds).where(
                db.incidents.c.response_working_seconds.is_not(None)
            )
        ).all()
    by_day: dict[date, list[int]] = {}
    for opened, seconds in rows:
        by_day.setdefault(opened.astimezone(MSK).date(), []).append(seconds)
    for day in s.daily_response:
        expected = by_day.get(day.day)
        if expected is None:
            assert day.answered == 0
            assert day.median_working_hours is None
        else:
            assert day.answered == len(expected)
            assert day.median_working_hours == pytest.approx(statistics.median(expected) / 3600)


def test_the_per_person_table_from_the_cache_is_the_fresh_one_after_each_change(
    world: World,
) -> None:
    ids = fill(world)
    cache = StatsCache()

    def both() -> tuple[stats.Stats, stats.Stats]:
        with world.engine.begin() as conn:
            return (
                stats.compute(conn, QUARTER, NOW, cache, people=True),
                stats.compute(conn, QUARTER, NOW, people=True),
            )

    kept, new = both()
    assert kept == new
    assert [p.person for p in kept.people] == ["anna"]
    world.reply(ids[0], "redirect", by="vera")  # a further reply in September
    world.correct_topic(ids[50], "telecom", by="vera")  # a correction in October
    world.answer(world.incident(datetime(2026, 9, 9, 10, 0, tzinfo=MSK)), NOW, by="vera")
    kept, new = both()
    assert kept == new
    vera = next(p for p in kept.people if p.person == "vera")
    assert (vera.answers, vera.redirects, vera.corrections) == (1, 1, 1)


def test_the_year_warmed_at_start_is_the_current_month_and_the_twelve_before() -> None:
    # 2 November 2026 in Moscow; and 1 February 2026 01:00 in Moscow, still January in UTC
    assert stats.warm_span(datetime(2026, 11, 2, 9, 0, tzinfo=UTC), "Europe/Moscow") == (
        date(2025, 11, 1),
        date(2026, 11, 30),
    )
    assert stats.warm_span(datetime(2026, 1, 31, 22, 0, tzinfo=UTC), "Europe/Moscow") == (
        date(2025, 2, 1),
        date(2026, 2, 28),
    )


def test_a_year_view_after_warming_reads_no_month(world: World) -> None:
    fill(world)
    cache = StatsCache()
    with world.engine.begin() as conn:
        assert stats.warm_year(conn, cache, NOW, "Europe/Moscow") == stats.WARM_MONTHS
    year = Filters.for_days(date(2025, 12, 1), date(2026, 11, 30))
    misses = cache.misses
    with world.engine.begin() as conn:
        view = stats.compute(conn, year, NOW, cache, people=True)
    assert cache.misses == misses
    assert view == fresh_people(world, year)


def fresh_people(world: World, filters: Filters) -> stats.Stats:
    with world.engine.begin() as conn:
        return stats.compute(conn, filters, NOW, people=True)


def test_the_page_figures_are_the_same_with_or_without_the_per_person_table(
    world: World,
) -> None:
    ids = fill(world)
    automatic = datetime(2026, 10, 7, 10, 0, tzinfo=MSK)  # counted in nobody's totals
    world.incident(automatic, answered_after=timedelta(hours=1), by="worker")
    world.reply(ids[5], "redirect", by="vera")
    with world.engine.begin() as conn:
        plain = stats.compute(conn, QUARTER, NOW)
        full = stats.compute(conn, QUARTER, NOW, people=True)
    assert replace(full, people=(), automatic=(), people_total=None) == plain
    assert (
        sum(p.answers for p in full.people)
        + sum(a.answers for a in full.automatic if a.person not in stats.AUTOMATIC_ACTORS)
        == plain.answered
    )


def test_a_topic_confirmation_or_correction_stamps_its_incident(world: World) -> None:
    incident = world.incident(datetime(2026, 10, 1, 10, 0, tzinfo=MSK), topic="food")
    i = db.incidents.c

    def clear() -> None:
        with world.engine.begin() as conn:
            conn.execute(update(db.incidents).where(i.id == incident).values(changed_at=0.0))

    def stamp() -> float:
        with world.engine.begin() as conn:
            value: float = conn.execute(select(i.changed_at).where(i.id == incident)).scalar_one()
        return value

    clear()
    with world.engine.begin() as conn:
        inbox.confirm_topic(conn, incident, "anna", NOW)  # writes only its own row
    assert stamp() > datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    clear()
    with world.engine.begin() as conn:
        conn.execute(delete(db.topic_confirmations))  # an administrator's SQL
    assert stamp() > 0.0


def test_topic_checks_from_the_cache_are_the_fresh_ones_after_a_confirmation(
    world: World,
) -> None:
    ids = fill(world)
    target = world.incident(datetime(2026, 9, 12, 10, 0, tzinfo=MSK), topic="food")
    cache = StatsCache()
    before = cached(world, cache)
    with world.engine.begin() as conn:
        topic = inbox.confirm_topic(conn, target, "anna", NOW)  # September
    world.correct_topic(ids[100], "telecom", by="vera")  # November
    after = cached(world, cache)
    assert after == fresh(world)
    assert after.confirmed == before.confirmed + 1
    assert after.corrected == before.corrected + 1
    assert any(c.topic == topic and c.confirmed == 1 for c in after.topic_checks)


def test_changes_in_old_and_current_months_read_again_only_their_days(world: World) -> None:
    ids = fill(world, seed=3)
    rng = random.Random(5)
    cache = StatsCache()

    def both() -> tuple[stats.Stats, stats.Stats]:
        with world.engine.begin() as conn:
            return (
                stats.compute(conn, QUARTER, NOW, cache, people=True),
                stats.compute(conn, QUARTER, NOW, people=True),
            )

    kept, new = both()
    assert kept == new
    open_ids = [k for k in ids if k not in answered_ids(world)]
    for round_ in range(4):
        days: set[date] = set()
        for _ in range(3):  # new incidents, some answered, in the current and older months
            opened = datetime(2026, rng.choice((9, 11)), rng.randrange(1, 29), 10, tzinfo=MSK)
            world.incident(opened, answered_after=timedelta(hours=rng.randrange(1, 50)))
            days.add(opened.date())
        late = open_ids.pop()  # a late answer to an old incident
        world.answer(late, NOW - timedelta(hours=1), by="vera")
        days.add(opened_on(world, late))
        world.reply(ids[round_], "move-to-private", by="vera")
        days.add(opened_on(world, ids[round_]))
        read = cache.days_read
        kept, new = both()
        assert kept == new
        assert cache.days_read - read == len(days)
        vera = next(p for p in kept.people if p.person == "vera")
        assert (vera.answers, vera.moves_to_private) == (round_ + 1, round_ + 1)


def answered_ids(world: World) -> set[int]:
    """The incidents answered or closed: not open to a late answer."""
    i = db.incidents.c
    with world.engine.begin() as conn:
        return set(
            conn.execute(
                select(i.id).where(i.first_response_at.is_not(None) | (i.status != "open"))
            ).scalars()
        )


def opened_on(world: World, incident: int) -> date:
    i = db.incidents.c
    with world.engine.begin() as conn:
        opened: datetime = conn.execute(select(i.opened_at).where(i.id == incident)).scalar_one()
    return opened.astimezone(MSK).date()
