"""Learning from corrections, in a real browser: a member of staff corrects a comment's topic
on its card, the model is retrained (by the function `incident model train` runs), and the
next similar comment gets the corrected topic, with the words that pushed the model marked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from incident import training
from incident.inbox import calendar_hours
from incident.models import Comment, Platform
from incident.rules import load_ruleset
from incident.users import Role
from incident.web.serve import BackgroundServer
from incident.web.suggestions import load_suggestions
from incident.wiring import rule_classifier
from tests.browser.test_browser_flow import log_in
from tests.world import add_user, ingest_comment, make_app

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
# No rule phrase knows skates, their sharpening or blades: the rules leave both unclassified.
CORRECTED = "Наточили коньки так, что лезвие теперь кривое и скользить невозможно"
SIMILAR = "Коньки опять кривые, наточили лезвие так, что скользить нельзя"


def utc_now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def served(engine: Engine) -> Iterator[str]:
    add_user(engine, "anna", Role.STAFF, utc_now())
    app = make_app(engine, utc_now, suggestions=load_suggestions(ROOT / "rules", ROOT / "replies"))
    with BackgroundServer(app) as server:
        yield server.url


def arrives(engine: Engine, model: training.ActiveModel, number: int, text: str) -> int:
    """A citizen's comment reaches the worker, classified as the worker does it."""
    ruleset = load_ruleset(ROOT / "rules")
    comment = Comment(Platform.VK, "42", "7", str(number), str(1000 + number), text, utc_now())
    with engine.begin() as conn:
        found = ingest_comment(
            conn,
            comment,
            utc_now(),
            deadline=calendar_hours(8),
            classify=rule_classifier(ruleset, model),
        )
    assert found is not None
    return found


def test_a_correction_on_the_card_changes_the_next_similar_comments_topic_after_retraining(
    engine: Engine, served: str, browser: Any
) -> None:
    ruleset = load_ruleset(ROOT / "rules")
    model = training.ActiveModel(engine)  # none trained yet: the rules alone
    first = arrives(engine, model, 1, CORRECTED)

    page = log_in(browser, served, "anna")
    page.goto(f"{served}/incidents/{first}")
    assert "не определена" in page.locator("section.verdict h2").inner_text()
    page.locator("#topic-other").click()  # «Другая тема»
    page.select_option("#topic-change select[name=topic]", value="services")
    page.locator("#topic-change button[type=submit]").click()
    page.wait_for_url(f"{served}/incidents/{first}")
    assert "Бытовые услуги" in page.locator("section.verdict h2").inner_text()

    done = training.train_once(engine, ruleset, utc_now())  # what `incident model train` runs
    assert done is not None
    assert done.model.corrections == 1
    assert model.refresh()  # the worker's minute-by-minute look for a new model
    second = arrives(engine, model, 2, SIMILAR)

    page.goto(f"{served}/incidents/{second}")
    assert "Бытовые услуги" in page.locator("section.verdict h2").inner_text()
    note = page.locator("#model-note").inner_text()
    assert f"версия {done.model.version}" in note
    assert "Тему выбрала модель" in note
    marked = page.locator("#comment-text mark.m-model").all_inner_texts()
    assert marked
    assert all(word in SIMILAR for word in marked)
    assert {"Коньки", "кривые", "наточили", "лезвие", "скользить"} & set(marked)
    page.context.close()
