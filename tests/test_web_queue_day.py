"""The queue shows what matters: urgent incidents pinned on top with a mark and a shorter
deadline, the newest findable (sort, the "новые" filter), spam closed in bulk, saved views per
user, and the card's «← Очередь» and "next" keeping the active filters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from incident import db
from incident.classify import classify
from incident.inbox import Classification
from incident.models import Comment, Platform
from incident.rules import load_ruleset
from incident.sla import SlaSettings
from incident.users import Role
from incident.wiring import working_hours_policy
from tests.conftest import FakeClock
from tests.world import add_incident, add_user, ingest_comment, login, make_app, post_form

ROOT = Path(__file__).resolve().parents[1]

URGENT = {"flags": ["urgent", "complaint"], "topic": "food"}


@pytest.fixture
def anna(engine: Engine, clock: FakeClock) -> Iterator[TestClient]:
    add_user(engine, "anna", Role.STAFF, clock())
    add_user(engine, "boris", Role.STAFF, clock())
    with TestClient(make_app(engine, clock)) as client:
        assert login(client, "anna").status_code == 303
        yield client


def ids_on_page(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr class="row[^"]*" data-id="(\d+)"', html)]


def status_of(engine: Engine, incident_id: int | None) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(db.incidents.c.status).where(db.incidents.c.id == incident_id)
            ).scalar_one()
        )


def test_a_comment_the_rules_flag_urgent_is_stored_urgent_with_the_urgent_deadline(
    engine: Engine, clock: FakeClock
) -> None:
    ruleset = load_ruleset(ROOT / "rules")
    text = "Отравились всей семьёй после кафе, ребёнок в больнице"
    verdict = classify(text, ruleset)
    assert "urgent" in verdict.flags  # the shipped rules' urgent phrases
    comment = Comment(
        platform=Platform.VK,
        community="42",
        post_id="7",
        external_id="1",
        author_id="1001",
        text=text,
        created_at=clock() - timedelta(minutes=5),
    )

    def rules(c: Comment, *history: Any) -> Classification:
        v = classify(c.text, ruleset)
        return Classification(v.topic, v.to_json(), v.ruleset_version)

    with engine.begin() as conn:
        found = ingest_comment(
            conn, comment, clock(), deadline=working_hours_policy(SlaSettings()), classify=rules
        )
    with engine.connect() as conn:
        row = conn.execute(select(db.incidents).where(db.incidents.c.id == found)).one()
    assert row.urgent is True
    working = row.due_at - row.opened_at
    assert working <= timedelta(hours=2)  # 9:55 MSK on a Friday: 2 working hours at most


def test_urgent_incidents_are_pinned_on_top_with_a_mark(
    anna: TestClient, engine: Engine, clock: FakeClock
) -> None:
    early = add_incident(engine, clock(), "Магазин", external_id="1", hours=1)
    urgent = add_incident(engine, clock(), "Отравление", external_id="2", hours=7, verdict=URGENT)
    page = anna.get("/queue").text
    assert ids_on_page(page) == [urgent, early]
    row = page[page.index(f'data-id="{urgent}"') :].split("</tr>")[0]
    assert "срочно" in row
    assert [r["id"] for r in anna.get("/api/incidents").json()["items"]] == [urgent, early]


def test_the_newest_are_findable_by_sort_and_by_the_new_filter(
    anna: TestClient, engine: Engine, clock: FakeClock
) -> None:
    old = add_incident(engine, clock(), "Старое", external_id="1", age=timedelta(hours=30))
    clock.advance(hours=2)
    new = add_incident(engine, clock(), "Новое", external_id="2", hours=40)
    assert ids_on_page(anna.get("/queue").text) == [old, new]
    assert ids_on_page(anna.get("/queue", params={"sort": "new"}).text) == [new, old]
    assert ids_on_page(anna.get("/queue", params={"fresh": "1"}).text) == [new]
    assert ids_on_page(anna.get("/queue", params={"sort": "nonsense"}).text) == [old, new]


def test_selected_spam_is_closed_in_bulk_and_the_rest_left_as_it_is(
    anna: TestClient, engine: Engine, clock: FakeClock
) -> None:
    spam = [add_incident(engine, clock(), f"Заработок {n}", external_id=f"s{n}") for n in range(3)]
    keep = add_incident(engine, clock(), "Настоящая жалоба", external_id="k")
    assert all(i is not None for i in [*spam, keep])
    token = anna.get("/api/me").json()["csrf_token"]
    done = anna.post(
        "/queue/close",
        data={"csrf_token": token, "reason": "spam", "ids": [str(i) for i in spam], "back": "q=x"},
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, "/queue?q=x")
    assert [status_of(engine, i) for i in spam] == ["closed"] * 3
    assert status_of(engine, keep) == "open"
    assert "Закрыто без ответа: 3." in anna.get("/queue").text
    again = anna.post(
        "/queue/close",
        data={"csrf_token": token, "reason": "spam", "ids": [str(spam[0]), str(keep)]},
    )
    assert "Закрыто без ответа: 1. Не закрыто (уже не открыты" in again.text
    no_reason = anna.post(
        "/queue/close", data={"csrf_token": token, "reason": "", "ids": [str(keep)]}
    )
    assert "Выберите причину" in no_reason.text
    assert status_of(engine, keep) == "closed"


def test_saved_filters_belong_to_their_user(
    anna: TestClient, engine: Engine, clock: FakeClock
) -> None:
    saved = post_form(
        anna,
        "/queue/filters",
        {"name": " Мои  просроченные ", "query": "overdue=1&mine=1&junk=<x>"},
    )
    assert (saved.status_code, saved.headers["location"]) == (303, "/queue?mine=1&overdue=1")
    page = anna.get("/queue").text
    assert 'href="/queue?mine=1&amp;overdue=1"><bdi>Мои просроченные</bdi>' in page
    with engine.connect() as conn:
        [row] = conn.execute(select(db.saved_filters)).all()
    assert (row.username, row.name) == ("anna", "Мои просроченные")
    # nobody else sees or deletes it
    with TestClient(anna.app) as boris:
        login(boris, "boris")
        assert "Мои просроченные" not in boris.get("/queue").text
        post_form(boris, f"/queue/filters/{row.id}/delete", {})
    assert "Мои просроченные" in anna.get("/queue").text
    post_form(anna, f"/queue/filters/{row.id}/delete", {})
    assert "Мои просроченные" not in anna.get("/queue").text
    post_form(anna, "/queue/filters", {"name": "  ", "query": ""})
    assert "Назовите фильтр." in anna.get("/queue").text


def test_the_card_goes_back_to_the_queue_and_on_to_the_next_with_the_same_filters(
    anna: TestClient, engine: Engine, clock: FakeClock
) -> None:
    first = add_incident(engine, clock(), "Утюг сломался", external_id="1", hours=1)
    second = add_incident(engine, clock(), "Утюг не греет", external_id="2", hours=2)
    add_incident(engine, clock(), "Чайник", external_id="3", hours=3)
    anna.get("/queue", params={"q": "Утюг", "sort": "due"})
    card = anna.get(f"/incidents/{first}").text
    assert '<a href="/queue?q=%D0%A3%D1%82%D1%8E%D0%B3" id="back-link">' in card
    following = anna.get(f"/incidents/{first}/next", follow_redirects=False)
    assert following.headers["location"] == f"/incidents/{second}"
    last = anna.get(f"/incidents/{second}/next", follow_redirects=False)
    assert last.headers["location"] == f"/incidents/{first}"  # the first is still open
