"""A staff member's working day in a real browser: the card keeps every typed word, follows
colleagues live, refuses placeholders, sends with Ctrl+Enter; the queue counts new comments on
every page; a phone-size card has every action within two screens.

The live world of test_browser_flow (the demo's community on a fake VK, the real VK source, the
pipeline's sweep and sender, the web app on uvicorn).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from incident import db
from tests.browser import test_browser_flow as flow
from tests.browser.test_browser_flow import LiveWorld, log_in, utc_now, wait_until
from tests.world import add_incident

pytestmark = pytest.mark.browser

# the live world of test_browser_flow, reused as it is
vk_setup = flow.vk_setup
world = flow.world

LIVE = 5_000  # ms: the card and the queue show others' changes within 5 seconds
PHONE = {"width": 375, "height": 667}


def open_first_card(page: Any, url: str) -> str:
    first = page.locator("#queue-rows tr.row").first
    incident_id = first.get_attribute("data-id")
    assert incident_id
    page.goto(f"{url}/incidents/{incident_id}")
    return incident_id


def filled(text: str) -> str:
    return re.sub(r"\[[^\]]+\]", "8 800 000-00-00", text or "Здравствуйте!")


def outbox_texts(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r.text for r in conn.execute(select(db.outbox.c.text))]


def test_typed_text_survives_a_takeover_and_a_refused_send(
    world: LiveWorld, browser: Any, engine: Engine
) -> None:
    anna = log_in(browser, world.url, "anna")
    incident_id = open_first_card(anna, world.url)
    editor = anna.locator("#reply-text")
    assert anna.evaluate("document.activeElement.id") == "reply-text"  # focus starts there
    assert "никто не ведёт" in anna.locator("#claim-box").inner_text()
    mine = "Анна пишет свой ответ, который нельзя потерять."
    editor.fill(mine)
    anna.locator("#claim-box", has_text="Инцидент у вас").wait_for(timeout=LIVE)

    boris = log_in(browser, world.url, "boris")
    boris.goto(f"{world.url}/incidents/{incident_id}")
    assert "Anna" in boris.locator("#claim-box").inner_text()  # her name, not her login
    boris.locator("#viewers", has_text="Anna (пишет ответ)").wait_for(timeout=LIVE)
    boris.click("#takeover")
    boris.locator("#claim-box", has_text="Инцидент у вас").wait_for(timeout=LIVE)

    # within 5 s Anna's open card says who took it; her text is untouched
    anna.locator("#claim-box", has_text="работает Boris").wait_for(timeout=LIVE)
    assert editor.input_value() == mine
    anna.click("#send-reply")
    anna.locator("#reply-error", has_text="Boris").wait_for(timeout=LIVE)
    assert editor.input_value() == mine  # the refusal never resets the editor
    assert outbox_texts(engine) == []
    anna.reload()
    assert anna.locator("#reply-text").input_value() == mine  # kept on the server
    anna.context.close()
    boris.context.close()


def test_ctrl_enter_sends_and_the_cards_show_the_answer_within_five_seconds(
    world: LiveWorld, browser: Any, engine: Engine
) -> None:
    anna = log_in(browser, world.url, "anna")
    incident_id = open_first_card(anna, world.url)
    boris = log_in(browser, world.url, "boris")
    boris.goto(f"{world.url}/incidents/{incident_id}")
    editor = anna.locator("#reply-text")
    text = filled(editor.input_value()) + " Ответ отправлен клавишами."
    editor.fill(text)
    editor.press("Control+Enter")
    anna.locator("#card-status", has_text="отвечено").wait_for(timeout=LIVE)
    assert outbox_texts(engine) == [text.strip()]
    assert anna.locator("#reply-text").get_attribute("readonly") is not None
    assert anna.locator("#send-reply").is_disabled()
    assert anna.locator("#countdown").count() == 0
    # the colleague's open card learns it was answered
    boris.locator("#card-status", has_text="отвечено").wait_for(timeout=LIVE)
    assert boris.locator("#send-reply").is_disabled()
    # the worker posts it: both cards show the link within 5 s
    assert world.send_replies() == 1
    anna.locator("#replies .posted-link").wait_for(timeout=LIVE)
    boris.locator("#replies .posted-link").wait_for(timeout=LIVE)
    assert [c["text"] for c in world.fake.created] == [text.strip()]
    anna.context.close()
    boris.context.close()


def test_a_typed_placeholder_is_refused_with_a_clear_message(
    world: LiveWorld, browser: Any, engine: Engine
) -> None:
    anna = log_in(browser, world.url, "anna")
    open_first_card(anna, world.url)
    typed = "Здравствуйте, [имя]! Проверим."
    anna.fill("#reply-text", typed)
    assert "заполните [имя]" in anna.locator("#reply-count").inner_text()
    anna.click("#send-reply")
    assert anna.locator("#reply-error").inner_text() == "Заполните в ответе: [имя]"
    assert anna.locator("#reply-text").input_value() == typed
    assert outbox_texts(engine) == []
    # the server refuses it too, whoever asks
    token = anna.evaluate("document.querySelector('meta[name=csrf-token]').content")
    status = anna.evaluate(
        """([url, token, text]) => fetch(url, {method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
            body: JSON.stringify({text})}).then(r => r.json().then(j => [r.status, j.detail]))""",
        [anna.locator("#reply-form").get_attribute("data-send-url"), token, typed],
    )
    assert status == [409, "Заполните в ответе: [имя]"]
    assert outbox_texts(engine) == []
    anna.context.close()


def test_a_new_comment_on_page_three_raises_the_counter_on_page_one(
    world: LiveWorld, browser: Any, engine: Engine
) -> None:
    now = utc_now()
    for n in range(110):
        add_incident(engine, now, f"Обращение номер {n}", external_id=f"bulk{n}", hours=30 + n)
    page = log_in(browser, world.url, "anna")
    assert page.title().startswith("Очередь")
    add_incident(engine, utc_now(), "Самое новое обращение", external_id="late", hours=900)
    wait_until(lambda: page.title().startswith("(1) "), timeout=LIVE / 1000)
    assert "Новых: 1" in page.locator("#new-count").inner_text()
    assert page.locator("#queue-rows", has_text="Самое новое обращение").count() == 0
    page.goto(f"{world.url}/queue?offset=100")
    row = page.locator("#queue-rows tr.row", has_text="Самое новое обращение")
    row.locator(".new-tag").wait_for(timeout=LIVE)
    page.context.close()


def test_a_phone_size_card_has_every_action_within_two_screens(
    world: LiveWorld, browser: Any, tmp_path: Path
) -> None:
    page = log_in(browser, world.url, "anna")
    page.set_viewport_size(PHONE)
    open_first_card(page, world.url)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    actions = [
        "#send-reply",
        "#take",
        ".pick-kind",
        "#redirect-pick",
        ".actions select[name=reason]",
        ".actions form[action$='/close'] button",
        ".actions select[name=assignee]",
        ".actions form[action$='/assign'] button",
    ]
    for selector in actions:
        box = page.locator(selector).first.bounding_box()
        assert box is not None, selector
        bottom = box["y"] + box["height"] + page.evaluate("window.scrollY")
        assert bottom <= 2 * PHONE["height"], f"{selector} ends at {bottom:.0f} px"
    page.context.close()


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_screenshots_of_the_card_and_the_queue_at_laptop_and_phone_size(
    world: LiveWorld, browser: Any, tmp_path: Path
) -> None:
    """Into INCIDENT_SCREENSHOTS_DIR when set (to look at them), else a temporary folder."""
    target = os.environ.get("INCIDENT_SCREENSHOTS_DIR")
    shots = Path(target).resolve() if target else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    page = log_in(browser, world.url, "anna")
    page.screenshot(path=str(shots / "queue-1366.png"))
    incident_id = open_first_card(page, world.url)
    page.screenshot(path=str(shots / "card-1366.png"))
    boris = log_in(browser, world.url, "boris")
    boris.goto(f"{world.url}/incidents/{incident_id}")
    boris.fill("#reply-text", "Борис начал писать [имя]")
    page.locator("#viewers", has_text="boris (пишет ответ)").wait_for(timeout=LIVE)
    page.screenshot(path=str(shots / "card-taken-1366.png"))
    boris.locator("#send-reply").click()
    boris.locator("#reply-error").wait_for(timeout=LIVE)
    boris.screenshot(path=str(shots / "card-refused-1366.png"))
    boris.fill("#reply-text", "Здравствуйте! Разберёмся и ответим.")
    boris.locator("#reply-text").press("Control+Enter")
    boris.locator("#card-status", has_text="отвечено").wait_for(timeout=LIVE)
    boris.screenshot(path=str(shots / "card-answered-1366.png"))
    boris.context.close()
    page.set_viewport_size(PHONE)
    page.reload()
    page.screenshot(path=str(shots / "card-375.png"), full_page=True)
    page.goto(f"{world.url}/queue")
    page.screenshot(path=str(shots / "queue-375.png"))
    assert page.locator("#filters-box").get_attribute("open") is None  # folded on a phone
    assert incident_id
    page.context.close()


def test_slash_inserts_a_template_question_mark_shows_the_keys_and_ctrl_shift_enter_moves_on(
    world: LiveWorld, browser: Any, engine: Engine
) -> None:
    page = log_in(browser, world.url, "anna")
    page.fill("input[name=q]", "а")
    page.click(".filters button[type=submit]")
    page.wait_for_url(f"{world.url}/queue?q=*")
    rows = page.locator("#queue-rows tr.row")
    first, second = rows.nth(0).get_attribute("data-id"), rows.nth(1).get_attribute("data-id")
    page.goto(f"{world.url}/incidents/{first}")
    assert page.locator("#back-link").get_attribute("href") == "/queue?q=%D0%B0"
    editor = page.locator("#reply-text")
    editor.fill("")
    editor.press_sequentially("/лич")
    menu = page.locator("#slash-menu")
    menu.wait_for(state="visible", timeout=LIVE)
    assert "в личные" in menu.inner_text().lower()
    editor.press("Enter")
    assert menu.is_hidden()
    assert "личные сообщения" in editor.input_value()
    assert page.locator("#reply-kind").input_value() == "move-to-private"
    # `?` outside the editor shows the keys
    page.locator("h1").click()
    page.keyboard.press("?")
    assert page.locator("#shortcuts-help").is_visible()
    page.keyboard.press("Escape")
    editor.fill(filled(editor.input_value()))
    editor.press("Control+Shift+Enter")
    page.wait_for_url(f"{world.url}/incidents/{second}", timeout=LIVE)
    assert outbox_texts(engine) != []
    page.context.close()
