"""Statistics: stored answer figures, the figures and daily series (charts: test_charts.py).

Every database test runs on SQLite and on PostgreSQL; the expected values are computed here
from the world the test builds (percentiles with ``statistics``, the reference definition of
``percentile_cont``), never copied from the code under test.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert, select, update

from incident import db, inbox, sla, stats
from incident.stats import Filters
from tests.world import MSK, NOW, OCTOBER, T0, World, percentile_cont

SETTINGS = sla.SlaSettings()


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)


# ----- stored figures ---------------------------------------------------------------------


def test_response_figures_count_only_working_time_for_a_friday_night_comment() -> None:
    friday_night = datetime(2026, 10, 16, 20, 0, tzinfo=MSK)
    monday = datetime(2026, 10, 19, 9, 30, tzinfo=MSK)
    d = sla.deadline(friday_night, None, None, "vk", SETTINGS)
    figures = sla.response_figures(friday_night, monday, d.due, SETTINGS)
    assert figures["response_working_seconds"] == 30 * 60
    assert figures["response_seconds"] == (monday - friday_night).total_seconds()
    # the 24-hour calendar cap made it due on Saturday evening, so Monday is late
    assert figures["on_time"] is False


def test_response_figures_say_on_time_at_the_deadline_itself_and_late_a_second_after() -> None:
    d = sla.deadline(T0, None, None, "vk", SETTINGS)
    assert sla.response_figures(T0, d.due, d.due, SETTINGS)["on_time"] is True
    later = d.due + timedelta(seconds=1)
    assert sla.response_figures(T0, later, d.due, SETTINGS)["on_time"] is False
    assert sla.response_figures(T0, later, None, SETTINGS)["on_time"] is None


def test_response_figures_refuse_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="opened_at"):
        sla.response_figures(T0.replace(tzinfo=None), T0, None, SETTINGS)


def test_backfill_fills_answered_incidents_without_figures_once(world: World) -> None:
    answered = world.incident(T0, answered_after=timedelta(hours=3))
    world.incident(T0)  # open: nothing to fill
    with world.engine.begin() as conn:
        conn.execute(
            update(db.incidents).values(
                response_seconds=None, response_working_seconds=None, on_time=None
            )
        )
    with world.engine.begin() as conn:
        assert inbox.backfill_response_figures(conn, SETTINGS, batch=1) == 1
    with world.engine.begin() as conn:
        assert inbox.backfill_response_figures(conn, SETTINGS) == 0
        row = conn.execute(select(db.incidents).where(db.incidents.c.id == answered)).one()
    assert (row.response_seconds, row.response_working_seconds, row.on_time) == (
        3 * 3600,
        3 * 3600,
        True,
    )


# ----- figures ----------------------------------------------------------------------------


def test_counts_shares_and_only_human_answers(world: World) -> None:
    for hours in (1, 2, 3):
        world.incident(T0, answered_after=timedelta(hours=hours))
    world.incident(T0, answered_after=timedelta(hours=2), by="platform")  # typed in VK by staff
    world.incident(T0, answered_after=timedelta(days=3))  # late
    world.incident(T0, answered_after=timedelta(hours=1), by="worker")  # automatic: unanswered
    world.incident(T0 + timedelta(days=1))  # open and past due at NOW
    world.incident(T0, closed=True)  # no answer needed
    world.incident(T0 - timedelta(days=3))  # September: outside the period
    s = world.compute()
    assert s.comments == 8
    assert s.answered == 5
    assert (s.on_time, s.late) == (4, 1)
    assert s.closed_without_answer == 1
    assert s.overdue_unanswered == 2  # the open one and the one only the worker "answered"
    assert s.on_time_share == pytest.approx(4 / (5 + 2))
    assert s.answered_share == pytest.approx(5 / (8 - 1))


def test_median_and_p90_follow_percentile_cont_in_working_and_calendar_hours(
    world: World,
) -> None:
    # answers the same day (working = calendar) and one over the weekend
    same_day = [0.5, 1, 1.5, 2, 4, 6, 7.5]
    for h in same_day:
        world.incident(T0, answered_after=timedelta(hours=h))
    friday = datetime(2026, 10, 16, 17, 0, tzinfo=MSK)
    world.incident(friday, answered_after=timedelta(hours=64, minutes=30))  # Mon 09:30
    working = [*same_day, 1.5]  # 17:00-18:00 Friday + 09:00-09:30 Monday
    calendar = [*same_day, 64.5]
    s = world.compute()
    assert s.median_working_hours == pytest.approx(percentile_cont(working, 0.5))
    assert s.p90_working_hours == pytest.approx(percentile_cont(working, 0.9))
    assert s.median_hours == pytest.approx(percentile_cont(calendar, 0.5))
    assert s.p90_hours == pytest.approx(percentile_cont(calendar, 0.9))


def test_percentiles_are_none_without_answers_and_exact_with_one(world: World) -> None:
    world.incident(T0)
    empty = world.compute()
    assert (empty.median_working_hours, empty.p90_hours) == (None, None)
    world.incident(T0, answered_after=timedelta(hours=2))
    one = world.compute()
    assert (one.median_working_hours, one.p90_working_hours) == (2.0, 2.0)


def test_daily_series_use_local_days_of_the_deployment(world: World) -> None:
    late_evening_utc = datetime(2026, 10, 5, 22, 30, tzinfo=UTC)  # 6 October in Moscow
    world.incident(late_evening_utc, topic="food", answered_after=timedelta(hours=12))
    world.incident(T0, topic="trade", answered_after=timedelta(hours=1))
    world.incident(T0, topic="trade", answered_after=timedelta(hours=3))
    world.incident(T0 + timedelta(days=1), topic=None)
    s = world.compute()
    assert len(s.days) == 31
    assert (s.days[0], s.days[-1]) == (date(2026, 10, 1), date(2026, 10, 31))
    volume = dict(s.daily_volume)
    assert [t for t, _ in s.daily_volume] == ["trade", "food", "unclassified"]
    assert volume["food"][s.days.index(date(2026, 10, 6))] == 1
    assert volume["trade"][0] == 2
    assert volume["unclassified"][1] == 1
    assert sum(sum(c) for c in volume.values()) == s.comments
    first = s.daily_response[0]
    assert (first.day, first.answered, first.median_working_hours) == (date(2026, 10, 1), 2, 2.0)
    oct6 = s.daily_response[s.days.index(date(2026, 10, 6))]
    assert oct6.median_hours == pytest.approx(12.0)
    assert oct6.median_working_hours == pytest.approx(
        sla.working_time_between(
            late_evening_utc, late_evening_utc + timedelta(hours=12), SETTINGS.calendar
        ).total_seconds()
        / 3600
    )
    assert s.daily_response[2] == stats.DailyResponse(date(2026, 10, 3), 0, None, None)


def test_local_days_follow_a_daylight_saving_change(world: World) -> None:
    berlin = ZoneInfo("Europe/Berlin")  # summer time ends on 25 October 2026 at 01:00 UTC
    world.incident(datetime(2026, 10, 24, 22, 30, tzinfo=UTC))  # 00:30 CEST on the 25th
    world.incident(datetime(2026, 10, 25, 22, 30, tzinfo=UTC))  # 23:30 CET on the 25th
    world.incident(datetime(2026, 10, 25, 23, 30, tzinfo=UTC))  # 00:30 CET on the 26th
    s = world.compute(Filters.for_days(date(2026, 10, 20), date(2026, 10, 31), berlin.key))
    counts = dict(s.daily_volume)["trade"]
    assert counts[s.days.index(date(2026, 10, 25))] == 2
    assert counts[s.days.index(date(2026, 10, 26))] == 1
    assert counts[s.days.index(date(2026, 10, 24))] == 0


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        ({"community": "43"}, {"c43"}),
        ({"platform": "ok"}, {"ok"}),
        ({"topic": "food"}, {"food"}),
        ({"topic": "unclassified"}, {"none"}),
        ({"person": "boris"}, {"boris", "assigned"}),
    ],
)
def test_filters_choose_community_platform_topic_and_person(
    world: World, chosen: dict[str, str], expected: set[str]
) -> None:
    ids = {
        "base": world.incident(T0, answered_after=timedelta(hours=1)),
        "c43": world.incident(T0, community="43"),
        "ok": world.incident(T0, platform="ok"),
        "food": world.incident(T0, topic="food"),
        "none": world.incident(T0, topic=None),
        "boris": world.incident(T0, answered_after=timedelta(hours=9), by="boris"),
        "assigned": world.incident(T0, assignee="boris"),
    }
    s = world.compute(Filters.for_month(2026, 10, **chosen))
    assert s.comments == len(expected)
    slow = {r.id for r in s.slowest}
    assert slow == {ids[k] for k in expected if k in ("base", "boris")}


def test_moves_to_private_and_redirects_count_posted_human_replies(world: World) -> None:
    a = world.incident(T0, answered_after=timedelta(hours=1))
    b = world.incident(T0, answered_after=timedelta(hours=1))
    world.reply(a, "move-to-private")
    world.reply(b, "move-to-private")
    world.reply(b, "redirect")
    world.reply(a, "redirect", posted=False)  # not sent yet
    world.reply(a, "redirect", by="worker")  # automatic
    world.reply(a, "answer")
    september = world.incident(T0 - timedelta(days=5))
    world.reply(september, "redirect")
    s = world.compute()
    assert (s.moves_to_private, s.redirects) == (2, 1)


def test_open_and_overdue_now_describe_the_queue_whatever_the_period(world: World) -> None:
    world.incident(T0 - timedelta(days=40))  # August, still open and overdue
    world.incident(NOW - timedelta(minutes=30))  # November, open, not yet due
    world.incident(T0, answered_after=timedelta(hours=1))
    world.incident(T0, community="43")  # another community
    s = world.compute(Filters.for_month(2026, 10, community="42"))
    assert (s.open_now, s.overdue_now) == (2, 1)


def test_slowest_incidents_come_slowest_first_with_links(world: World) -> None:
    hours = [3, 1, 7, 5, 2, 8, 4, 6, 0.5, 7.5, 2.5, 1.5]
    ids = [world.incident(T0, answered_after=timedelta(hours=h)) for h in hours]
    s = world.compute()
    expected = sorted(zip(hours, ids, strict=True), key=lambda p: -p[0])[: stats.SLOWEST_LIMIT]
    assert [(r.working_hours, r.id) for r in s.slowest] == expected
    assert s.slowest[0].url == f"/incidents/{ids[hours.index(8)]}"


def test_by_topic_table_and_volume_table_add_up(world: World) -> None:
    world.incident(T0, topic="trade", answered_after=timedelta(hours=1))
    world.incident(T0 + timedelta(days=7), topic="trade")
    world.incident(T0 + timedelta(days=8), topic="housing", answered_after=timedelta(days=2))
    s = world.compute()
    rows = {r.topic: r for r in s.by_topic}
    assert (rows["trade"].comments, rows["trade"].answered, rows["trade"].overdue) == (2, 1, 1)
    assert (rows["housing"].answered, rows["housing"].on_time) == (1, 0)
    topics, weeks = stats.volume_table(s, "week")
    assert topics == ("trade", "housing")
    # the week of Monday 28 September, cut to October's first four days
    assert weeks[0] == ("2026-10-01", (1, 0), date(2026, 10, 1), date(2026, 10, 4), True)
    assert weeks[1] == ("2026-10-05", (1, 1), date(2026, 10, 5), date(2026, 10, 11), False)
    assert weeks[-1][2:] == (date(2026, 10, 26), date(2026, 10, 31), True)  # to Saturday 31st
    _, months = stats.volume_table(s, "month")
    assert months == [("2026-10", (2, 1), date(2026, 10, 1), date(2026, 10, 31), False)]
    with pytest.raises(ValueError, match="by must be"):
        stats.volume_table(s, "year")


def test_to_json_is_plain_json(world: World) -> None:
    world.incident(T0, answered_after=timedelta(hours=2))
    s = world.compute()
    data = json.loads(json.dumps(s.to_json()))
    assert data["comments"] == 1
    assert data["on_time_share"] == 1.0
    assert data["days"][0] == "2026-10-01"
    assert data["daily_volume"]["trade"][0] == 1
    assert data["slowest"][0]["url"].startswith("/incidents/")
    assert data["filters"]["start"] == OCTOBER.start.isoformat()


def test_filters_refuse_an_empty_period_and_naive_times() -> None:
    with pytest.raises(ValueError, match="empty"):
        Filters(T0, T0)
    with pytest.raises(ValueError, match="aware"):
        Filters(T0.replace(tzinfo=None), NOW)


def test_a_person_name_with_quotes_is_a_value_not_sql(world: World) -> None:
    tricky = "o'brien'); DROP TABLE incidents; --"
    world.incident(T0, answered_after=timedelta(hours=3), by=tricky)
    world.incident(T0, answered_after=timedelta(hours=5), by="anna")
    s = world.compute(Filters.for_month(2026, 10, person=tricky))
    assert (s.comments, s.answered, s.median_working_hours) == (1, 1, 3.0)
    assert world.compute().comments == 2


def test_the_period_starts_and_ends_at_local_midnight(world: World) -> None:
    before = datetime(2026, 9, 30, 20, 59, tzinfo=UTC)  # 23:59 on 30 September in Moscow
    first = datetime(2026, 9, 30, 21, 0, tzinfo=UTC)  # 00:00 on 1 October
    last = datetime(2026, 10, 31, 20, 59, tzinfo=UTC)  # 23:59 on 31 October
    after = datetime(2026, 10, 31, 21, 0, tzinfo=UTC)  # 00:00 on 1 November
    for opened, hours in ((before, 1), (first, 2), (last, 4), (after, 8)):
        world.incident(opened, answered_after=timedelta(hours=hours))
    s = world.compute()
    assert (s.comments, s.answered) == (2, 2)
    assert s.median_hours == pytest.approx(3.0)
    assert (s.daily_response[0].answered, s.daily_response[-1].answered) == (1, 1)


def test_backfill_takes_reply_kinds_from_the_staff_apps_audit_events(world: World) -> None:
    a = world.incident(T0, answered_after=timedelta(hours=1))
    b = world.incident(T0, answered_after=timedelta(hours=1))
    ids = [world.reply(a, "move-to-private"), world.reply(b, "redirect")]
    with world.engine.begin() as conn:  # these two were queued before migration 0003
        conn.execute(update(db.outbox).where(db.outbox.c.id.in_(ids)).values(kind=None))
        for outbox_id, incident_id, kind in (
            (ids[0], a, "move-to-private"),
            (ids[1], b, "redirect"),
        ):
            conn.execute(
                insert(db.audit_events).values(
                    at=T0,
                    actor="anna",
                    incident_id=incident_id,
                    action="reply_sent",
                    details={"outbox_id": outbox_id, "kind": kind},
                )
            )
    assert (world.compute().moves_to_private, world.compute().redirects) == (0, 0)
    with world.engine.begin() as conn:
        assert inbox.backfill_reply_kinds(conn) == 2
    with world.engine.begin() as conn:
        assert inbox.backfill_reply_kinds(conn) == 0
    s = world.compute()
    assert (s.moves_to_private, s.redirects) == (1, 1)
