"""The per-person table of the statistics: /api/stats's ``people`` and ``automatic``.

Every test runs on SQLite and on PostgreSQL. The expected figures are counted by hand from
the world each test builds; the working hours of an answer come from the working calendar
(``workcal``), not from the statistics under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from incident.models import DEMO_OPERATOR, PLATFORM_ACTOR, WORKER
from incident.sla import SlaSettings
from incident.users import Role
from incident.workcal import working_time_between
from tests.conftest import FakeClock
from tests.world import NOW, PeopleWorld, World, add_user, login, make_app, percentile_cont

OCTOBER = {"from": "2026-10-01", "to": "2026-10-31"}


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)


@pytest.fixture
def boris(engine: Engine) -> Iterator[TestClient]:
    """A supervisor, logged in."""
    clock = FakeClock(NOW.astimezone(UTC))
    add_user(engine, "boris", Role.SUPERVISOR, clock())
    with TestClient(make_app(engine, clock)) as c:
        assert login(c, "boris").status_code == 303
        yield c


def stats_of(client: TestClient, **params: str) -> dict[str, Any]:
    response = client.get("/api/stats", params={**OCTOBER, **params})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def working_hours(opened: datetime, after: timedelta) -> float:
    elapsed = working_time_between(opened, opened + after, SlaSettings().calendar)
    return elapsed.total_seconds() / 3600


def test_each_person_has_a_line_that_matches_a_hand_count(boris: TestClient, world: World) -> None:
    small = PeopleWorld(world)
    data = stats_of(boris)
    people = {p["person"]: p for p in data["people"]}
    assert list(people) == ["anna", "vera"]  # the busiest first

    anna = people["anna"]
    working = [working_hours(at, after) for at, after in small.anna]
    calendar = [after.total_seconds() / 3600 for _, after in small.anna]
    assert anna["answers"] == 3
    assert anna["on_time"] == 2
    assert anna["on_time_share"] == pytest.approx(2 / 3)
    assert anna["median_working_hours"] == pytest.approx(percentile_cont(working, 0.5))
    assert anna["p90_working_hours"] == pytest.approx(percentile_cont(working, 0.9))
    assert anna["median_hours"] == pytest.approx(percentile_cont(calendar, 0.5))
    assert anna["p90_hours"] == pytest.approx(percentile_cont(calendar, 0.9))
    assert (anna["moves_to_private"], anna["redirects"], anna["corrections"]) == (0, 1, 1)
    assert anna["open_assigned"] == 2  # the period does not matter for what is open now
    assert anna["name"] == "Anna"  # the account's display name

    vera = people["vera"]
    assert (vera["answers"], vera["on_time"]) == (1, 1)
    assert vera["median_hours"] == pytest.approx(2.0)
    assert (vera["moves_to_private"], vera["redirects"], vera["corrections"]) == (1, 0, 0)
    assert vera["open_assigned"] == 1

    total = data["people_total"]
    assert (total["answers"], total["on_time"], total["open_assigned"]) == (4, 3, 3)
    assert total["median_hours"] == pytest.approx(percentile_cont([*calendar, 2.0], 0.5))


def test_automatic_actors_are_listed_apart_and_never_among_people(
    boris: TestClient, world: World
) -> None:
    PeopleWorld(world)
    data = stats_of(boris)
    assert {p["person"] for p in data["people"]}.isdisjoint({PLATFORM_ACTOR, WORKER, DEMO_OPERATOR})
    apart = {p["person"]: p for p in data["automatic"]}
    assert set(apart) == {PLATFORM_ACTOR, WORKER, DEMO_OPERATOR}
    assert all(p["answers"] == 1 for p in apart.values())
    assert apart[DEMO_OPERATOR]["median_hours"] == pytest.approx(0.5)
    assert apart[PLATFORM_ACTOR]["name"] == "сообщество на площадке"
    # The totals count the platform's and the demo operator's answers, not the worker's.
    assert data["answered"] == 4 + 2
    assert sum(p["answers"] for p in data["people"]) == 4


def test_the_person_filter_keeps_only_that_persons_line(boris: TestClient, world: World) -> None:
    PeopleWorld(world)
    data = stats_of(boris, person="vera")
    assert [p["person"] for p in data["people"]] == ["vera"]
    assert data["automatic"] == []
    only_demo = stats_of(boris, person=DEMO_OPERATOR)
    assert only_demo["people"] == []
    assert [p["person"] for p in only_demo["automatic"]] == [DEMO_OPERATOR]


def test_the_page_shows_each_person_and_the_automatic_actors_apart(
    boris: TestClient, world: World
) -> None:
    PeopleWorld(world)
    page = boris.get("/stats", params=OCTOBER)
    assert page.status_code == 200
    people, _, rest = page.text.partition('id="automatic-table"')
    assert 'data-person="anna"' in people
    assert 'data-person="vera"' in people
    assert "Все сотрудники" in people
    assert 'data-person="demo-operator"' in rest
    assert "демо-оператор" in rest
    assert 'data-person="demo-operator"' not in people


def test_the_web_app_warms_the_current_year_when_it_starts(engine: Engine, world: World) -> None:
    PeopleWorld(world)
    app = make_app(engine, FakeClock(NOW.astimezone(UTC)), warm_stats=True)
    with TestClient(app):
        app.state.stats_warm.join(timeout=60)
    assert len(app.state.stats_cache) == 13  # November 2025 .. November 2026
