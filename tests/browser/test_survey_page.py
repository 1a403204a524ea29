"""The satisfaction survey in a real browser: a citizen fills the form on a phone-size screen
(375x667), nothing scrolls sideways, and a supervisor then finds the answers in the results.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from incident import db, surveys
from incident.surveys.definition import SHIPPED_DEFINITION
from incident.users import Role
from incident.web.serve import BackgroundServer
from tests.conftest import FakeClock
from tests.world import PASSWORD, add_incident, add_user, make_app

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 667}
LAPTOP = {"width": 1366, "height": 768}


def test_a_citizen_fills_the_survey_on_a_phone_and_it_shows_in_the_results(
    engine: Engine, clock: FakeClock, browser: Any, tmp_path: Path
) -> None:
    add_user(engine, "boris", Role.SUPERVISOR, clock())
    with engine.begin() as conn:
        campaign = surveys.create_campaign(
            conn, "Опрос 2026 года", surveys.load_definition(SHIPPED_DEFINITION), clock()
        )
    target = os.environ.get("INCIDENT_SCREENSHOTS_DIR")
    shots = Path(target).resolve() if target else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    with BackgroundServer(make_app(engine, clock)) as server:
        phone = browser.new_context(viewport=PHONE, locale="ru-RU", is_mobile=True, has_touch=True)
        page = phone.new_page()
        page.goto(f"{server.url}{campaign.path}")
        assert page.locator("fieldset.question").count() == 13
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        honeypot = page.locator("input[name=website]").bounding_box()
        assert honeypot is not None
        assert honeypot["x"] + honeypot["width"] <= 0  # off the screen: people never see it
        if engine.dialect.name == "sqlite":
            page.screenshot(path=str(shots / "survey-phone.png"))
            page.screenshot(path=str(shots / "survey-phone-full.png"), full_page=True)
        page.get_by_label("Скорее удовлетворен", exact=True).check()
        page.locator("#q2").get_by_label("Телеграм-канал Комитета").check()
        page.locator("#q8 fieldset.grid-row").nth(1).get_by_label("Пользуюсь постоянно").check()
        page.fill("textarea[name=q12]", "Публикуйте ответы на частые вопросы")
        page.locator("#q13").get_by_label("4 балла").check()
        page.click("button[type=submit]")
        page.locator("#survey-done").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.close()

        laptop = browser.new_context(viewport=LAPTOP, locale="ru-RU")
        page = laptop.new_page()
        page.goto(f"{server.url}/surveys/{campaign.id}")
        page.fill("input[name=username]", "boris")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/surveys/{campaign.id}")
        assert page.locator("#total").inner_text() == "1"
        first = page.locator("#result-q1 tbody tr").first
        assert first.locator("td").nth(1).inner_text() == "1"
        assert first.locator("td").nth(2).inner_text() == "100,0 %"
        assert "Публикуйте ответы на частые вопросы" in page.locator("#result-q12").inner_text()
        if engine.dialect.name == "sqlite":
            page.screenshot(path=str(shots / "survey-results.png"), full_page=True)
        laptop.close()


def test_the_rating_link_answers_once_on_a_phone_and_refuses_the_second_time(
    engine: Engine, clock: FakeClock, browser: Any
) -> None:
    incident = add_incident(engine, clock(), "Чайник сломался", external_id="1", topic="trade")
    assert incident is not None
    with engine.begin() as conn:
        token = surveys.create_rating_link(conn, incident, "anna", clock())
    with BackgroundServer(make_app(engine, clock)) as server:
        phone = browser.new_context(viewport=PHONE, locale="ru-RU", is_mobile=True, has_touch=True)
        page = phone.new_page()
        page.goto(f"{server.url}/rate/{token}")
        kept_open = phone.new_page()  # the same link opened twice: the second use is refused
        kept_open.goto(f"{server.url}/rate/{token}")
        page.get_by_label("5", exact=True).check()
        page.fill("textarea[name=comment]", "Спасибо, помогли")
        page.click("button[type=submit]")
        page.locator("#rate-thanks").wait_for()
        kept_open.get_by_label("1", exact=True).check()
        kept_open.click("button[type=submit]")
        kept_open.locator("#rate-used").wait_for()
        assert "уже оценён" in kept_open.locator("#rate-used").inner_text()
        page.goto(f"{server.url}/rate/{token}")  # the link opened again later
        assert page.locator("#rate-used").is_visible()
        assert page.locator("button[type=submit]").count() == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.close()
    with engine.connect() as conn:
        row = conn.execute(select(db.rating_links.c.score, db.rating_links.c.comment)).one()
    assert tuple(row) == (5, "Спасибо, помогли")
