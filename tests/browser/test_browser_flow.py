"""The staff web app in a real browser, against the real worker pieces.

A fake VK server seeded with the demo's community, a VkSource talking to it over HTTP, the
pipeline's sweep to ingest, the web app served by uvicorn, and the pipeline's sender posting
what the page queued. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from incident import pipeline
from incident.classify import classify
from incident.inbox import Classification
from incident.models import Comment
from incident.pipeline import Ingestion, ReplyPolicy
from incident.rules import load_ruleset
from incident.sla import SlaSettings
from incident.sources.fakes.demo_data import seed_demo
from incident.sources.fakes.vk_server import FakeVk
from incident.sources.vk import RetryPolicy, VkSource
from incident.users import Role
from incident.web.serve import BackgroundServer
from incident.web.suggestions import load_suggestions
from incident.wiring import working_hours_policy
from tests.world import PASSWORD, VkSetup, VkToken, add_user, make_app

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
GID = 217_000_001
VIEWPORT = {"width": 1366, "height": 768}
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>\u202eevil'


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class LiveWorld:
    """The demo community in a fake VK, the worker's pieces and the web app, all running."""

    engine: Engine
    fake: FakeVk
    source: VkSource
    ingestion: Ingestion
    url: str

    def sweep(self) -> None:
        outcome = pipeline.sweep_once(self.engine, self.source, utc_now, self.ingestion)
        assert outcome.error is None

    def link_repeats(self) -> int:
        """The worker's repeat step: new incidents grouped with those they repeat."""
        return pipeline.link_repeats_once(self.engine)

    def send_replies(self) -> int:
        sent = 0
        policy = ReplyPolicy(worker_id="browser-test-worker")
        while pipeline.send_one_reply(
            self.engine, {self.source.name: self.source}, utc_now, policy
        ):
            sent += 1
        return sent


def classifier() -> Any:
    ruleset = load_ruleset(ROOT / "rules")

    def run(comment: Comment, history: Sequence[str] = ()) -> Classification:
        v = classify(comment.text, ruleset, history=history)
        return Classification(v.topic, v.to_json(), v.ruleset_version)

    return run


@pytest.fixture
def vk_setup() -> VkSetup:
    """The demo's community is seeded by the ``world`` fixture; here only the tokens."""
    return VkSetup(
        groups=(),
        users={},
        tokens=(VkToken("community", "community", GID), VkToken("service", "service")),
    )


@pytest.fixture
def world(engine: Engine, fake_vk: FakeVk) -> Iterator[LiveWorld]:
    now = utc_now()
    seed_demo(fake_vk, GID, random.Random(7), now.timestamp())
    with VkSource(
        name="vk-demo",
        group_id=GID,
        community_token="community",
        sweep_token="service",
        session_factory=fake_vk.session,
        throttle=False,
        retry=RetryPolicy(attempts=3, initial=0.001, maximum=0.01),
        longpoll_wait=1,
        rng=random.Random(1),
    ) as source:
        add_user(engine, "anna", Role.STAFF, now)
        add_user(engine, "boris", Role.SUPERVISOR, now)
        suggestions = load_suggestions(ROOT / "rules", ROOT / "replies")
        suggestions.hotline = "8 800 000-00-00"
        suggestions.places["vk", str(GID)] = (
            "Комитет по защите прав потребителей",
            f"https://vk.me/club{GID}",
        )
        app = make_app(engine, utc_now, suggestions=suggestions, refresh_seconds=1)
        with BackgroundServer(app) as server:
            w = LiveWorld(
                engine,
                fake_vk,
                source,
                Ingestion(deadline=working_hours_policy(SlaSettings()), classify=classifier()),
                server.url,
            )
            w.sweep()
            yield w


def log_in(browser: Any, url: str, name: str) -> Any:
    context = browser.new_context(viewport=VIEWPORT, locale="ru-RU")
    page = context.new_page()
    page.goto(f"{url}/queue")
    assert "/login" in page.url  # anonymous: sent to the login form
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/queue")
    return page


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_staff_edits_a_suggested_reply_and_it_is_posted_on_vk_once(
    world: LiveWorld, browser: Any, engine: Engine
) -> None:
    anna = log_in(browser, world.url, "anna")
    rows = anna.locator("#queue-rows tr.row")
    assert rows.count() > 10
    first_id = rows.first.get_attribute("data-id")
    # keyboard: j selects the first row, Enter opens it
    anna.keyboard.press("j")
    anna.keyboard.press("Enter")
    anna.wait_for_url(f"{world.url}/incidents/{first_id}")
    # the suggested draft is in the editor; edit it
    editor = anna.locator("#reply-text")
    draft = editor.input_value()
    # fill the template's [marker]s as staff would, and add a sentence of our own
    edited = re.sub(r"\[[^\]]+\]", "8 800 000-00-00", draft or "Здравствуйте!")
    edited += " Проверено браузерным тестом."
    editor.fill(edited)
    assert "символов" in anna.locator("#reply-count").inner_text()
    # the first edit takes the incident
    anna.locator("#claim-box", has_text="Инцидент у вас").wait_for(timeout=5_000)

    # a second person opening the same incident sees it is taken
    boris = log_in(browser, world.url, "boris")
    boris.goto(f"{world.url}/incidents/{first_id}")
    # her display name (world.add_user), not her login
    assert "Anna" in boris.locator("#claim-box.claim-banner").inner_text()

    anna.click("#send-reply")
    anna.locator("#replies", has_text="ждёт отправки").wait_for(timeout=5_000)

    # Boris's card turns answered by itself; a send of his is refused by the server anyway
    boris.locator("#card-status", has_text="отвечено").wait_for(timeout=5_000)
    assert boris.locator("#send-reply").is_disabled()
    refused = boris.evaluate(
        """([url, token]) => fetch(url, {method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
            body: JSON.stringify({text: "Второй ответ, которого быть не должно"})})
            .then(r => r.json().then(j => [r.status, j.detail]))""",
        [
            boris.locator("#reply-form").get_attribute("data-send-url"),
            boris.evaluate("document.querySelector('meta[name=csrf-token]').content"),
        ],
    )
    assert refused[0] == 409
    assert "Anna" in refused[1]

    assert world.send_replies() == 1
    assert [c["text"] for c in world.fake.created] == [edited.strip()]
    # the page follows the reply's status by itself and shows the link to it
    anna.locator("#replies .posted-link").wait_for(timeout=10_000)
    assert "опубликован" in anna.locator("#replies").inner_text()
    assert world.send_replies() == 0
    assert len(world.fake.created) == 1
    anna.context.close()
    boris.context.close()


def test_queue_refreshes_itself_when_a_new_incident_arrives(world: LiveWorld, browser: Any) -> None:
    page = log_in(browser, world.url, "anna")
    page.evaluate("window.__same_page = true")
    post = world.fake.post_ids(GID)[0]
    user = world.fake.user_ids()[0]
    world.fake.add_comment(GID, post, user, "Срочно: новая жалоба на отопление в подъезде", date=1)
    world.sweep()
    page.locator("#queue-rows", has_text="новая жалоба на отопление").wait_for(timeout=10_000)
    assert page.evaluate("window.__same_page") is True  # no full page reload
    page.context.close()


def test_html_and_scripts_in_a_comment_are_shown_as_text(world: LiveWorld, browser: Any) -> None:
    post = world.fake.post_ids(GID)[0]
    user = world.fake.user_ids()[0]
    world.fake.add_comment(GID, post, user, XSS + " " + "Ы" * 3000, date=2)
    world.sweep()
    page = log_in(browser, world.url, "anna")
    page.fill("input[name=q]", "onerror")
    page.click(".filters button[type=submit]")
    row = page.locator("#queue-rows tr.row").first
    assert "<script>" in row.inner_text()
    row.click()
    page.wait_for_url(f"{world.url}/incidents/*")
    text = page.locator("#comment-text").inner_text()
    assert "<script>window.__xss=2</script>" in text
    assert page.evaluate("window.__xss") is None
    assert page.locator("#comment-text img, #comment-text script").count() == 0
    # a 3000-letter word does not push the page sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    page.context.close()


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # one set of screenshots
def test_screenshots_of_the_queue_and_the_card_from_the_demo_data(
    world: LiveWorld, browser: Any, engine: Engine, tmp_path: Path
) -> None:
    """Takes the README's screenshots. They land in a temporary folder unless
    INCIDENT_SCREENSHOTS_DIR names one (docs/screenshots to refresh the README's)."""
    target = os.environ.get("INCIDENT_SCREENSHOTS_DIR")
    shots = Path(target).resolve() if target else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    page = log_in(browser, world.url, "anna")
    page.screenshot(path=str(shots / "queue.png"))
    page.locator("#queue-rows tr.row").nth(2).click()
    page.wait_for_url(f"{world.url}/incidents/*")
    page.screenshot(path=str(shots / "card.png"))
    # on a phone the card is one column and nothing sticks out sideways
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(shots / "card-phone.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto(f"{world.url}/queue")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(shots / "queue-phone.png"))
    assert (shots / "queue.png").stat().st_size > 10_000
    assert (shots / "card.png").stat().st_size > 10_000
    page.context.close()
