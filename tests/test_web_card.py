"""The incident card's drafts: ranked for the verdict the worker stored, never re-classified."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from incident.classify import Verdict, classify
from incident.rules import RuleSet, load_ruleset
from incident.users import Role
from incident.web.suggestions import load_suggestions
from tests.conftest import FakeClock
from tests.world import add_incident, add_user, login, make_app, post_form

ROOT = Path(__file__).resolve().parent.parent
# classified now, this comment is about trade
TRADE = "Магазин не вернул деньги за утюг"
REPLY_ID = re.compile(r'<li class="draft" [^>]*data-reply-id="([^"]+)"')


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_ruleset(ROOT / "rules")


@pytest.fixture
def anna(engine: Engine, clock: FakeClock) -> Iterator[TestClient]:
    add_user(engine, "anna", Role.STAFF, clock())
    app = make_app(engine, clock, suggestions=load_suggestions(ROOT / "rules", ROOT / "replies"))
    with TestClient(app) as client:
        assert login(client, "anna").status_code == 303
        yield client


def drafts_on_card(client: TestClient, incident_id: int) -> list[str]:
    page = client.get(f"/incidents/{incident_id}")
    assert page.status_code == 200
    return REPLY_ID.findall(page.text)


def incident_with(
    engine: Engine, clock: FakeClock, verdict: Verdict | None, text: str = TRADE
) -> int:
    """An incident stored through ingest by a classifier that answers ``verdict``."""
    found = add_incident(
        engine,
        clock(),
        text,
        external_id="100",
        topic=verdict.topic if verdict else None,
        verdict=verdict.to_json() if verdict else None,
    )
    assert found is not None
    return found


def test_the_card_offers_the_drafts_of_the_stored_verdict_not_of_a_new_classification(
    engine: Engine, clock: FakeClock, rules: RuleSet, anna: TestClient
) -> None:
    # the worker stored an urgent housing verdict; the text, classified now, is plain trade
    assert classify(TRADE, rules).topic == "trade"
    urgent = classify("В подъезде сильный запах газа, УК не отвечает", rules)
    assert (urgent.topic, "urgent" in urgent.flags) == ("housing", True)
    incident = incident_with(engine, clock, urgent)

    drafts = drafts_on_card(anna, incident)
    assert drafts[0] == "housing-urgent"
    assert not [d for d in drafts if d.startswith("trade-")]
    card: Any = anna.get(f"/api/incidents/{incident}").json()
    assert [d["reply_id"] for d in card["drafts"]] == drafts


def test_without_a_stored_verdict_the_card_offers_the_drafts_for_an_unclassified_comment(
    engine: Engine, clock: FakeClock, anna: TestClient
) -> None:
    incident = incident_with(engine, clock, None)  # classification was off

    drafts = drafts_on_card(anna, incident)
    assert "clarify" in drafts
    assert not [d for d in drafts if d.endswith("-answer") or d.startswith("trade-")]


def test_after_staff_correct_the_topic_the_drafts_follow_the_correction(
    engine: Engine, clock: FakeClock, rules: RuleSet, anna: TestClient
) -> None:
    incident = incident_with(engine, clock, classify("МТС списал деньги за подписку", rules))
    card = f"/incidents/{incident}"
    assert post_form(anna, f"{card}/topic", {"topic": "finance"}, page=card).status_code == 303

    drafts = drafts_on_card(anna, incident)
    assert "finance-answer" in drafts
    assert "telecom-answer" not in drafts


@pytest.mark.parametrize(
    ("author_name", "greeting"),
    [
        ("Иван Петров", "Иван, здравствуйте!"),
        ("Анна-Мария", "Анна-Мария, здравствуйте!"),
        ("O'Brien", "O'Brien, здравствуйте!"),
        ("[id1|@all]", "Здравствуйте!"),
        ("\u202eАнна [club1|@all]", "Здравствуйте!"),
        ("https://evil.example Анна", "Здравствуйте!"),
        ('=HYPERLINK("http://evil.example")', "Здравствуйте!"),
    ],
)
def test_the_default_draft_greets_the_author_only_by_a_name_that_looks_like_one(
    engine: Engine,
    clock: FakeClock,
    rules: RuleSet,
    anna: TestClient,
    author_name: str,
    greeting: str,
) -> None:
    verdict = classify("МТС списал деньги за подписку", rules)
    incident = add_incident(
        engine,
        clock(),
        "МТС списал деньги за подписку",
        external_id="100",
        author_name=author_name,
        topic=verdict.topic,
        verdict=verdict.to_json(),
    )
    card: Any = anna.get(f"/api/incidents/{incident}").json()
    texts = [d["text"] for d in card["drafts"]]
    assert texts[0].startswith(greeting + " ")
    assert not [t for t in texts if "@all" in t or "evil" in t or "\u202e" in t]


def test_the_card_says_what_the_model_did_and_shows_nothing_of_a_malformed_note(
    engine: Engine, clock: FakeClock, anna: TestClient, rules: RuleSet
) -> None:
    text = "<b>Пружина</b> вылезла из дивана"
    word = "Пружина"
    start = text.index(word)
    note = {
        "version": 3,
        "topic": "services",
        "probability": 0.61,
        "words": [{"word": word, "span": [start, start + len(word)], "weight": 0.9}],
        "changed": "filled",
        "rules_topic": "unclassified",
    }
    verdict = classify(text, rules)
    stored = {**verdict.to_json(), "topic": "services", "model": note}
    shown = add_incident(engine, clock(), text, external_id="200", topic="services", verdict=stored)
    page = anna.get(f"/incidents/{shown}")
    assert page.status_code == 200
    assert "Модель (версия 3)" in page.text
    assert "вероятность 61%" in page.text
    assert "Тему выбрала модель" in page.text
    assert f'<mark class="m-model">{word}</mark>' in page.text
    assert "<b>" not in page.text.split('id="comment-text"')[1].split("</div>")[0]

    broken = {**stored, "model": {"version": "3; drop", "words": "x", "probability": None}}
    hidden = add_incident(
        engine, clock(), text, external_id="201", topic="services", verdict=broken
    )
    page = anna.get(f"/incidents/{hidden}")
    assert page.status_code == 200
    assert "Модель (версия" not in page.text


# ----- an uncertain verdict, one-click checks of the topic, conversations -----------------


def test_an_uncertain_topic_shows_as_such_until_a_person_says_it_is_right(
    engine: Engine, clock: FakeClock, rules: RuleSet, anna: TestClient
) -> None:
    guess = classify("после стирки всё село", rules)  # one weak detail: a guess
    assert guess.uncertain
    assert guess.topic == "services"
    incident = incident_with(engine, clock, guess, text="после стирки всё село")
    queue = anna.get("/queue").text
    assert "не уверен" in queue
    assert anna.get("/api/incidents").json()["items"][0]["topic_mark"] == "uncertain"
    page = anna.get(f"/incidents/{incident}").text
    assert 'id="topic-uncertain"' in page
    assert 'id="topic-right"' in page
    assert "Другая тема" in page

    done = post_form(anna, f"/incidents/{incident}/topic/confirm", {}, f"/incidents/{incident}")
    assert done.status_code == 303
    page = anna.get(f"/incidents/{incident}").text
    assert 'id="topic-uncertain"' not in page
    assert 'id="topic-confirmed"' in page
    assert 'id="topic-right"' not in page  # nothing left to confirm
    assert "тема подтверждена" in page  # in the history
    assert "не уверен" not in anna.get("/queue").text
    assert anna.get("/api/incidents").json()["items"][0]["topic_mark"] is None


def test_the_runner_up_of_an_uncertain_verdict_is_one_click_away(
    engine: Engine, clock: FakeClock, rules: RuleSet, anna: TestClient
) -> None:
    guess = classify("в отделении одно окно, а после стирки всё село", rules)
    assert guess.uncertain
    assert guess.runner_up is not None
    incident = incident_with(engine, clock, guess, text="в отделении одно окно")
    page = anna.get(f"/incidents/{incident}").text
    assert 'id="topic-runner-up"' in page
    post_form(
        anna, f"/incidents/{incident}/topic", {"topic": guess.runner_up}, f"/incidents/{incident}"
    )
    card: Any = anna.get(f"/api/incidents/{incident}").json()
    assert card["topic"] == guess.runner_up
    assert card["topic_corrected"] is True


def test_a_conversation_between_citizens_is_closed_as_needing_no_answer(
    engine: Engine, clock: FakeClock, rules: RuleSet, anna: TestClient
) -> None:
    talk = classify("Ирина, вы не правы, там всегда так было", rules)
    assert talk.conversation
    incident = incident_with(engine, clock, talk, text="Ирина, вы не правы")
    page = anna.get(f"/incidents/{incident}").text
    assert "разговор пользователей" in page
    assert 'id="no-answer-needed"' in page
    # no topic draft: only the built-in fallbacks every card has
    assert all(d.startswith("builtin-") for d in drafts_on_card(anna, incident))
    post_form(
        anna, f"/incidents/{incident}/close", {"reason": "conversation"}, f"/incidents/{incident}"
    )
    card: Any = anna.get(f"/api/incidents/{incident}").json()
    assert (card["status"], card["closed_reason"]) == ("closed", "conversation")
    page = anna.get(f"/incidents/{incident}").text
    assert "ответ не требуется: разговор пользователей" in page
