"""Staff actions on incidents, through the pages, the API and incident.inbox directly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from starlette.testclient import TestClient

from incident import db, inbox
from incident.models import IncidentStatus, OutboxStatus
from incident.users import Role
from incident.web.suggestions import Suggestions
from tests.conftest import FakeClock
from tests.world import add_incident, add_user, csrf_of, login, make_app, post_form


@pytest.fixture
def incident(engine: Engine, clock: FakeClock) -> int:
    for name in ("anna", "boris"):
        add_user(engine, name, Role.STAFF, clock())
    found = add_incident(engine, clock(), "Магазин не вернул деньги за утюг", external_id="100")
    assert found is not None
    return found


# the topics of the loaded rules: staff may choose only these
TOPICS = {"trade": "Торговля", "housing": "ЖКХ и управляющие компании"}


@pytest.fixture
def app(engine: Engine, clock: FakeClock, incident: int) -> Any:
    return make_app(engine, clock, suggestions=Suggestions(topics=TOPICS))


@pytest.fixture
def anna(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as client:
        assert login(client, "anna").status_code == 303
        yield client


@pytest.fixture
def boris(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as client:
        assert login(client, "boris").status_code == 303
        yield client


def outbox_rows(engine: Engine, incident_id: int) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(db.outbox).where(db.outbox.c.incident_id == incident_id)))


def incident_row(engine: Engine, incident_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(db.incidents).where(db.incidents.c.id == incident_id)).one()


def actions(engine: Engine, incident_id: int) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            (r.actor, r.action)
            for r in conn.execute(
                select(db.audit_events)
                .where(db.audit_events.c.incident_id == incident_id)
                .order_by(db.audit_events.c.id)
            )
        ]


def card(client: TestClient, incident_id: int) -> str:
    response = client.get(f"/incidents/{incident_id}")
    assert response.status_code == 200
    return response.text


def take(client: TestClient, incident_id: int) -> Any:
    """«Взять» on the card."""
    return post_form(client, f"/incidents/{incident_id}/take", {}, f"/incidents/{incident_id}")


def test_opening_a_card_takes_nothing_and_reading_many_blocks_nobody(
    anna: TestClient, boris: TestClient, engine: Engine, incident: int
) -> None:
    page = card(anna, incident)
    assert "никто не ведёт" in page
    assert incident_row(engine, incident).claimed_by is None
    assert "никто не ведёт" in card(boris, incident)
    sent = post_form(boris, f"/incidents/{incident}/reply", {"text": "Ответ"}, "/queue")
    assert sent.status_code == 303
    assert [r.created_by for r in outbox_rows(engine, incident)] == ["boris"]


def test_taking_a_card_claims_it_and_a_second_person_sees_who_is_on_it(
    anna: TestClient, boris: TestClient, engine: Engine, incident: int
) -> None:
    take(anna, incident)
    assert "Инцидент у вас" in card(anna, incident)
    assert incident_row(engine, incident).claimed_by == "anna"
    page = card(boris, incident)
    assert "С инцидентом сейчас работает" in page
    assert "anna" in page
    assert incident_row(engine, incident).claimed_by == "anna"  # not stolen by looking
    rows = anna.get("/api/incidents").json()["items"]
    assert rows[0]["claimed_by"] == "anna"


def test_a_claim_lapses_after_a_few_minutes(
    anna: TestClient, boris: TestClient, engine: Engine, incident: int, clock: FakeClock
) -> None:
    take(anna, incident)
    clock.advance(minutes=6)
    assert "С инцидентом сейчас работает" not in card(boris, incident)
    take(boris, incident)
    assert incident_row(engine, incident).claimed_by == "boris"


def test_taking_over_a_claim_is_recorded(
    anna: TestClient, boris: TestClient, engine: Engine, incident: int
) -> None:
    take(anna, incident)
    card(boris, incident)
    response = post_form(boris, f"/incidents/{incident}/claim", {}, f"/incidents/{incident}")
    assert response.status_code == 303
    assert incident_row(engine, incident).claimed_by == "boris"
    assert ("boris", "claimed") in actions(engine, incident)


def test_sending_a_reply_queues_one_outbox_row_and_the_card_shows_it_pending(
    anna: TestClient, engine: Engine, incident: int
) -> None:
    card(anna, incident)
    response = post_form(
        anna,
        f"/incidents/{incident}/reply",
        {"text": "  Здравствуйте! Разберёмся.  "},
        f"/incidents/{incident}",
    )
    assert (response.status_code, response.headers["location"]) == (303, f"/incidents/{incident}")
    [row] = outbox_rows(engine, incident)
    assert (row.text, row.status, row.created_by) == (
        "Здравствуйте! Разберёмся.",
        "pending",
        "anna",
    )
    page = card(anna, incident)
    assert "ждёт отправки" in page
    assert ("anna", "reply_sent") in actions(engine, incident)


def test_a_second_person_pressing_send_is_refused_and_nothing_more_is_queued(
    anna: TestClient, boris: TestClient, engine: Engine, incident: int, clock: FakeClock
) -> None:
    card(anna, incident)
    post_form(anna, f"/incidents/{incident}/reply", {"text": "Первый"}, f"/incidents/{incident}")
    clock.advance(minutes=10)  # even after anna's claim has lapsed
    post_form(boris, f"/incidents/{incident}/reply", {"text": "Второй"}, f"/incidents/{incident}")
    assert "Ответ уже отправлен" in card(boris, incident)
    assert [r.text for r in outbox_rows(engine, incident)] == ["Первый"]


def test_a_reply_cannot_be_sent_while_someone_else_holds_the_incident(
    anna: TestClient, boris: TestClient, engine: Engine, incident: int
) -> None:
    take(anna, incident)
    response = boris.post(
        f"/api/incidents/{incident}/reply",
        json={"text": "Здравствуйте"},
        headers={"X-CSRF-Token": boris.get("/api/me").json()["csrf_token"]},
    )
    assert response.status_code == 409
    assert "Anna" in response.json()["detail"]  # who holds it, by the name people know
    assert outbox_rows(engine, incident) == []


def test_concurrent_sends_on_the_same_incident_queue_exactly_one_reply(
    engine: Engine, incident: int, clock: FakeClock
) -> None:
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def press_send(i: int) -> None:
        barrier.wait()
        try:
            with engine.begin() as conn:
                inbox.queue_reply(conn, incident, f"Ответ {i}", "anna", clock())
            outcomes.append("sent")
        except inbox.ActionRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=press_send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["refused", "refused", "refused", "sent"]
    assert len(outbox_rows(engine, incident)) == 1


def test_a_reply_with_an_unfilled_template_marker_is_refused(
    engine: Engine, incident: int, clock: FakeClock
) -> None:
    with engine.begin() as conn, pytest.raises(inbox.ActionRefused, match="Заполните"):
        inbox.queue_reply(
            conn, incident, "Звоните: [телефон горячей линии комитета].", "anna", clock()
        )
    assert outbox_rows(engine, incident) == []


def test_a_reply_longer_than_the_platform_limit_is_refused(
    engine: Engine, incident: int, clock: FakeClock
) -> None:
    with engine.begin() as conn, pytest.raises(inbox.ActionRefused, match="длиннее 10"):
        inbox.queue_reply(
            conn, incident, "Здравствуйте, это длинный ответ", "anna", clock(), limit=10
        )


def test_a_failed_reply_shows_the_reason_and_retry_queues_it_again(
    anna: TestClient, engine: Engine, incident: int, clock: FakeClock
) -> None:
    card(anna, incident)
    post_form(anna, f"/incidents/{incident}/reply", {"text": "Ответ"}, f"/incidents/{incident}")
    with engine.begin() as conn:
        claim = inbox.claim_reply(conn, "w1", clock(), timedelta(minutes=1))
        assert claim is not None
        inbox.mark_reply_failed(conn, claim, "w1", "VK: доступ к комментариям закрыт", clock())
    page = card(anna, incident)
    assert "доступ к комментариям закрыт" in page
    assert "Повторить отправку" in page
    [row] = outbox_rows(engine, incident)
    post_form(
        anna, f"/incidents/{incident}/retry", {"outbox_id": str(row.id)}, f"/incidents/{incident}"
    )
    [row] = outbox_rows(engine, incident)
    assert row.status == OutboxStatus.PENDING.value
    assert ("anna", "reply_retry") in actions(engine, incident)


def test_a_posted_reply_shows_its_link(
    anna: TestClient, engine: Engine, incident: int, clock: FakeClock
) -> None:
    card(anna, incident)
    post_form(anna, f"/incidents/{incident}/reply", {"text": "Ответ"}, f"/incidents/{incident}")
    with engine.begin() as conn:
        claim = inbox.claim_reply(conn, "w1", clock(), timedelta(minutes=1))
        assert claim is not None
        inbox.mark_posted(conn, claim, "w1", "555", "https://vk.com/wall-42_7?reply=555", clock())
    block = anna.get(f"/incidents/{incident}/replies").text
    assert "опубликован" in block
    assert 'href="https://vk.com/wall-42_7?reply=555"' in block
    assert incident_row(engine, incident).status == IncidentStatus.ANSWERED.value


def test_no_answer_needed_closes_with_the_reason_and_can_be_reopened(
    anna: TestClient, engine: Engine, incident: int
) -> None:
    post_form(anna, f"/incidents/{incident}/close", {"reason": "spam"}, f"/incidents/{incident}")
    row = incident_row(engine, incident)
    assert (row.status, row.closed_reason) == ("closed", "spam")
    assert anna.get("/api/incidents").json()["items"] == []  # gone from the open queue
    post_form(anna, f"/incidents/{incident}/reopen", {}, f"/incidents/{incident}")
    assert incident_row(engine, incident).status == "open"
    assert [a for _, a in actions(engine, incident)][-2:] == ["closed_no_answer", "reopened"]


def test_an_unknown_close_reason_is_refused(
    anna: TestClient, engine: Engine, incident: int
) -> None:
    response = post_form(
        anna, f"/incidents/{incident}/close", {"reason": "boring"}, f"/incidents/{incident}"
    )
    assert response.status_code == 400
    assert incident_row(engine, incident).status == "open"


def test_a_topic_change_is_stored_as_a_correction_for_the_rules(
    anna: TestClient, engine: Engine, incident: int
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(db.incidents)
            .where(db.incidents.c.id == incident)
            .values(topic="trade", ruleset_version="r1")
        )
    post_form(anna, f"/incidents/{incident}/topic", {"topic": "housing"}, f"/incidents/{incident}")
    assert incident_row(engine, incident).topic == "housing"
    with engine.connect() as conn:
        [fix] = conn.execute(select(db.topic_corrections)).all()
    assert (fix.from_topic, fix.to_topic, fix.ruleset_version, fix.actor) == (
        "trade",
        "housing",
        "r1",
        "anna",
    )
    assert ("anna", "topic_changed") in actions(engine, incident)


def test_a_topic_outside_the_loaded_rules_is_refused(
    anna: TestClient, engine: Engine, incident: int
) -> None:
    token = anna.get("/api/me").json()["csrf_token"]
    card = f"/incidents/{incident}"
    api_path = f"/api/incidents/{incident}/topic"
    for topic in ("made-up", "unclassified", "<b>x</b>"):
        api = anna.post(api_path, json={"topic": topic}, headers={"X-CSRF-Token": token})
        assert api.status_code == 422, topic
        assert "Нет такой темы" in str(api.json()["detail"])
        page = post_form(anna, f"{card}/topic", {"topic": topic}, card)
        assert page.status_code == 400, topic
        assert "Нет такой темы" in page.text
    assert incident_row(engine, incident).topic is None
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(db.topic_corrections)).scalar() == 0
    ok = anna.post(api_path, json={"topic": "trade"}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200
    assert incident_row(engine, incident).topic == "trade"


def test_assignment_and_notes_appear_in_the_card_history(
    anna: TestClient, engine: Engine, incident: int
) -> None:
    post_form(
        anna, f"/incidents/{incident}/assign", {"assignee": "boris"}, f"/incidents/{incident}"
    )
    post_form(
        anna,
        f"/incidents/{incident}/note",
        {"text": "Позвонить в магазин"},
        f"/incidents/{incident}",
    )
    page = card(anna, incident)
    assert "Позвонить в магазин" in page
    assert "назначен ответственный" in page
    assert incident_row(engine, incident).assignee == "boris"
    assert anna.get("/api/incidents", params={"mine": "true"}).json()["items"] == []
    take(anna, incident)
    mine = anna.get("/api/incidents", params={"mine": "true"}).json()["items"]
    assert [r["id"] for r in mine] == [incident]  # anna holds the claim she took


def test_assigning_to_an_unknown_user_is_refused(
    anna: TestClient, engine: Engine, incident: int
) -> None:
    post_form(
        anna, f"/incidents/{incident}/assign", {"assignee": "nobody"}, f"/incidents/{incident}"
    )
    assert "Нет активного пользователя nobody" in card(anna, incident)
    assert incident_row(engine, incident).assignee is None


def test_the_api_offers_the_same_actions_with_the_csrf_header(
    anna: TestClient, engine: Engine, incident: int
) -> None:
    token = anna.get("/api/me").json()["csrf_token"]
    headers = {"X-CSRF-Token": token}
    body = anna.get(f"/api/incidents/{incident}", params={"claim": "true"}).json()
    assert body["comment"]["text"] == "Магазин не вернул деньги за утюг"
    assert body["claimed_by"] == "anna"
    assert anna.post(
        f"/api/incidents/{incident}/notes", json={"text": "n"}, headers=headers
    ).json()["ok"]
    sent = anna.post(f"/api/incidents/{incident}/reply", json={"text": "Ответ"}, headers=headers)
    assert sent.status_code == 200
    again = anna.post(f"/api/incidents/{incident}/reply", json={"text": "Ещё"}, headers=headers)
    assert again.status_code == 409
    assert anna.post(f"/api/incidents/{incident}/reply", json={"text": "x"}).status_code == 403
    card_json = anna.get(f"/api/incidents/{incident}").json()
    assert [r["status"] for r in card_json["replies"]] == ["pending"]
    assert [n["text"] for n in card_json["notes"]] == ["n"]
    assert {"reply_sent", "note_added"} <= {h["action"] for h in card_json["history"]}


def test_an_unknown_incident_is_a_404(anna: TestClient) -> None:
    assert anna.get("/incidents/999999").status_code == 404
    assert anna.get("/api/incidents/999999").status_code == 404


def test_count_of_queued_replies_is_unchanged_by_viewing(
    anna: TestClient, engine: Engine, incident: int
) -> None:
    for _ in range(3):
        card(anna, incident)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(db.outbox)).scalar_one() == 0
    assert [a for _, a in actions(engine, incident)].count("claimed") == 0
    for _ in range(2):
        take(anna, incident)
    assert [a for _, a in actions(engine, incident)].count("claimed") == 1


def test_csrf_token_is_the_same_across_pages_of_one_session(anna: TestClient) -> None:
    assert csrf_of(anna, "/queue") == anna.get("/api/me").json()["csrf_token"]
