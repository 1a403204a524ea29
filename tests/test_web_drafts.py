"""The card never loses typed text, claims on the first edit, and follows others live.

Through the pages and the JSON API, on SQLite and PostgreSQL: drafts kept on the server per
incident and user, the claim taken by typing or «Взять» (never by opening), «Отпустить» and the
leaving beacon, refused replies kept as drafts, any bracketed placeholder refused, the
«отвечено» state, and the one live endpoint the card and the queue poll.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from incident import db, inbox
from incident.classify import classify
from incident.rules import load_ruleset
from incident.users import Role
from incident.web.pages.card import editor_start, redirect_options
from incident.web.suggestions import Suggestions, load_suggestions
from tests.conftest import FakeClock
from tests.world import add_incident, add_user, login, make_app, post_form


@pytest.fixture
def incident(engine: Engine, clock: FakeClock) -> int:
    for name in ("anna", "boris"):
        add_user(engine, name, Role.STAFF, clock())
    found = add_incident(engine, clock(), "Магазин не вернул деньги за утюг", external_id="100")
    assert found is not None
    return found


@pytest.fixture
def app(engine: Engine, clock: FakeClock, incident: int) -> Any:
    return make_app(engine, clock, suggestions=Suggestions(topics={"trade": "Торговля"}))


def _client(app: Any, name: str) -> Iterator[TestClient]:
    with TestClient(app) as client:
        assert login(client, name).status_code == 303
        client.headers["X-CSRF-Token"] = client.get("/api/me").json()["csrf_token"]
        yield client


@pytest.fixture
def anna(app: Any) -> Iterator[TestClient]:
    yield from _client(app, "anna")


@pytest.fixture
def boris(app: Any) -> Iterator[TestClient]:
    yield from _client(app, "boris")


def type_text(client: TestClient, incident_id: int, text: str) -> Any:
    """What the editor's autosave sends as the person types."""
    response = client.post(f"/api/incidents/{incident_id}/draft", json={"text": text})
    assert response.status_code == 200, response.text
    return response.json()


def editor_text(client: TestClient, incident_id: int) -> str:
    page = client.get(f"/incidents/{incident_id}").text
    start = page.index('id="reply-text"')
    body = page[page.index(">", start) + 1 :]
    return body[: body.index("</textarea>")]


def holder(engine: Engine, incident_id: int) -> str | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(db.incidents.c.claimed_by).where(db.incidents.c.id == incident_id)
        ).one()
    return row.claimed_by


def test_typed_text_is_kept_on_the_server_and_shown_again_after_a_reload(
    anna: TestClient, engine: Engine, incident: int
) -> None:
    assert holder(engine, incident) is None
    assert type_text(anna, incident, "Здравствуйте! Проверим магазин")["mine"] is True
    assert holder(engine, incident) == "anna"  # the first edit took the incident
    assert editor_text(anna, incident) == "Здравствуйте! Проверим магазин"
    type_text(anna, incident, "Здравствуйте! Проверим магазин и ответим")
    assert editor_text(anna, incident) == "Здравствуйте! Проверим магазин и ответим"


def test_typed_text_survives_a_takeover_and_the_refused_send_that_follows(
    anna: TestClient, boris: TestClient, engine: Engine, incident: int
) -> None:
    type_text(anna, incident, "Анна пишет ответ")
    taken = boris.post(f"/api/incidents/{incident}/claim", json={"force": True}).json()
    assert taken["claimed_by"] == "boris"
    # Anna goes on typing: her text is saved, the incident stays Boris's
    assert type_text(anna, incident, "Анна пишет ответ дальше") == {
        "saved": True,
        "claimed_by": "boris",
        "claimed_by_name": "Boris",
        "mine": False,
    }
    refused = anna.post(f"/api/incidents/{incident}/reply", json={"text": "Анна: последний"})
    assert refused.status_code == 409
    assert "Boris" in refused.json()["detail"]  # by the name people know him by
    assert editor_text(anna, incident) == "Анна: последний"  # what she tried to send
    assert "С инцидентом сейчас работает" in anna.get(f"/incidents/{incident}").text
    # Boris's editor is his own: he never sees Anna's words as his draft
    assert "Анна" not in editor_text(boris, incident)


def test_a_refused_send_from_the_form_keeps_the_text_and_says_why(
    anna: TestClient, engine: Engine, incident: int
) -> None:
    sent = post_form(
        anna, f"/incidents/{incident}/reply", {"text": "Уважаемый [имя], разберёмся"}, "/queue"
    )
    assert sent.status_code == 303
    page = anna.get(f"/incidents/{incident}").text
    assert "Заполните в ответе: [имя]" in page
    assert editor_text(anna, incident) == "Уважаемый [имя], разберёмся"


def test_any_bracketed_placeholder_is_refused_by_the_server(
    anna: TestClient, engine: Engine, incident: int
) -> None:
    for text, left in [
        ("Здравствуйте, [имя]!", "[имя]"),
        ("Приходите по [адрес] с [номер договора]", "[адрес], [номер договора]"),
        ("Hello [name]", "[name]"),
    ]:
        refused = anna.post(f"/api/incidents/{incident}/reply", json={"text": text})
        assert refused.status_code == 409
        assert refused.json()["detail"] == f"Заполните в ответе: {left}"
    with engine.connect() as conn:
        assert conn.execute(select(db.outbox.c.id)).first() is None


def test_brackets_around_numbers_alone_are_not_placeholders() -> None:
    assert inbox.unfilled_markers("см. пункт [1] и [2.3]") == []
    assert inbox.unfilled_markers("[имя], [имя] и [ИНН]") == ["[имя]", "[ИНН]"]


def test_after_sending_the_card_is_answered_read_only_and_the_draft_is_gone(
    anna: TestClient, engine: Engine, incident: int
) -> None:
    type_text(anna, incident, "Здравствуйте! Вернём деньги.")
    assert (
        anna.post(
            f"/api/incidents/{incident}/reply", json={"text": "Здравствуйте! Вернём деньги."}
        ).status_code
        == 200
    )
    page = anna.get(f"/incidents/{incident}").text
    assert '<span class="tag st-answered" id="card-status">отвечено</span>' in page
    assert 'id="countdown"' not in page
    assert "readonly" in page[page.index('id="reply-text"') :].split(">")[0]
    assert 'id="send-reply" title="Ctrl+Enter" disabled' in page
    with engine.connect() as conn:
        assert conn.execute(select(db.reply_drafts)).first() is None


def test_release_and_leaving_let_the_incident_go_and_keep_the_draft(
    anna: TestClient, boris: TestClient, engine: Engine, incident: int, clock: FakeClock
) -> None:
    type_text(anna, incident, "Черновик Анны")
    released = post_form(anna, f"/incidents/{incident}/release", {}, f"/incidents/{incident}")
    assert (released.status_code, holder(engine, incident)) == (303, None)
    assert editor_text(anna, incident) == "Черновик Анны"
    # the beacon on leaving carries what was typed after the last autosave
    type_text(anna, incident, "Черновик Анны")
    assert holder(engine, incident) == "anna"
    left = anna.post(
        f"/incidents/{incident}/leave",
        data={"text": "Черновик Анны, дописанный", "kind": "answer", "reply_id": ""},
    )
    assert (left.status_code, holder(engine, incident)) == (204, None)
    assert editor_text(anna, incident) == "Черновик Анны, дописанный"
    assert anna.post(f"/incidents/{incident}/leave", data={}).status_code == 204


def test_the_live_endpoint_shows_viewers_a_takeover_and_the_answer(
    anna: TestClient, boris: TestClient, engine: Engine, incident: int, clock: FakeClock
) -> None:
    anna.get(f"/incidents/{incident}")
    type_text(anna, incident, "Пишу")
    seen = boris.get("/api/live", params={"incident": incident}).json()["card"]
    assert seen["viewers"] == [{"username": "anna", "name": "Anna", "editing": True}]
    assert (seen["claimed_by"], seen["claimed_by_other"], seen["answered"]) == (
        "anna",
        True,
        False,
    )
    boris.post(f"/api/incidents/{incident}/claim", json={"force": True})
    after = anna.get("/api/live", params={"incident": incident, "editing": True}).json()["card"]
    assert (after["claimed_by"], after["claimed_by_other"], after["mine"]) == (
        "boris",
        True,
        False,
    )
    assert boris.post(f"/api/incidents/{incident}/reply", json={"text": "Ответ"}).status_code == 200
    answered = anna.get("/api/live", params={"incident": incident}).json()["card"]
    assert answered["answered"] is True
    assert [r["status"] for r in answered["replies"]] == ["pending"]
    clock.advance(seconds=20)  # a card not polled for a while is no longer open
    assert boris.get("/api/live", params={"incident": incident}).json()["card"]["viewers"] == []


def test_the_new_count_covers_every_page_of_the_queue(
    anna: TestClient, engine: Engine, incident: int, clock: FakeClock
) -> None:
    for n in range(120):  # the newest get the latest deadlines: pages 2 and 3
        add_incident(engine, clock(), f"Жалоба {n}", external_id=f"n{n}", hours=8 + n)
    since = anna.get("/api/live").json()["newest"]
    add_incident(engine, clock(), "Совсем новая жалоба", external_id="late", hours=500)
    queue_page_3 = anna.get("/queue", params={"offset": 100}).text
    assert "Совсем новая жалоба" in queue_page_3
    assert "Совсем новая жалоба" not in anna.get("/queue").text
    live = anna.get("/api/live", params={"since": since}).json()
    assert (live["new"], live["newest"]) == (1, since + 1)
    rows = anna.get("/queue/rows", params={"offset": 100, "since": since}).text
    assert rows.count("новое") == 1
    # a filter narrows the count too
    assert anna.get("/api/live", params={"since": since, "q": "Утюг"}).json()["new"] == 0


def test_an_out_of_competence_comment_opens_with_its_redirect_and_each_body_is_listed_once() -> (
    None
):
    root = Path(__file__).resolve().parents[1]
    s = load_suggestions(root / "rules", root / "replies")
    verdict = classify(
        "На нашей улице огромные ямы на дороге, никто не ремонтирует", load_ruleset(root / "rules")
    ).to_json()
    assert verdict["in_competence"] is False
    drafts = s.drafts(verdict["topic"], verdict, "vk", "Анна Петрова", "42")
    start = editor_start({"drafts": drafts, "verdict": verdict}, None)
    assert start["editor_kind"] == "redirect"
    assert "дорожная служба" in start["editor_text"]
    options = redirect_options(drafts, s.redirects)
    labels = [o["label"] for o in options]
    assert len(labels) == len(set(labels)) == len({r.body for r in s.redirects})
    assert all(not label.startswith("Здравствуйте") for label in labels)
    roads = next(o for o in options if o["label"].startswith("дорожная служба"))
    assert roads["text"] == start["editor_text"]  # the ranked draft that names the body
