"""The demo's three platforms in a real browser: one reply on each, from the queue to the fake.

The demo's communities (incident/sources/fakes: demo_data, demo_ok, demo_telegram) on the fake
VK and OK servers over HTTP and on the in-memory Telegram; the real VkSource, OkSource and
TelegramSource; the pipeline's sweep and sender run by the test; the web app served by uvicorn.
OK refuses replies through the API, as in the demo: the card shows «ответьте вручную» with the
link, a person answers in OK itself, and the next sweep marks the incident answered.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, select

from incident import db, pipeline
from incident.models import Platform
from incident.pipeline import Ingestion, ReplyPolicy
from incident.sla import SlaSettings
from incident.sources.base import Source
from incident.sources.fakes import demo_ok, demo_telegram
from incident.sources.fakes.demo_data import seed_demo
from incident.sources.fakes.ok_server import FakeOk
from incident.sources.fakes.telegram_fake import FakeTelegram
from incident.sources.fakes.vk_server import FakeVk
from incident.sources.ok import OkSource
from incident.sources.ok import RetryPolicy as OkRetry
from incident.sources.ok.links import comment_link as ok_comment_link
from incident.sources.telegram import TelegramSource
from incident.sources.telegram.source import Retry as TelegramRetry
from incident.sources.vk import RetryPolicy, VkSource
from incident.users import Role
from incident.web.serve import BackgroundServer
from incident.web.suggestions import load_suggestions
from incident.wiring import working_hours_policy
from tests.browser.test_browser_flow import ROOT, classifier, log_in, utc_now
from tests.world import VkSetup, VkToken, add_user, make_app

pytestmark = pytest.mark.browser

GID = 217_000_001
OK_REFUSES_WITH = 10  # as in the demo: PERMISSION_DENIED for discussions.addDiscussionComment


@dataclass
class ThreePlatforms:
    """The demo's three communities, the worker's pieces and the web app, all running."""

    engine: Engine
    vk: FakeVk
    ok: FakeOk
    telegram: FakeTelegram
    sources: dict[str, Source]
    ingestion: Ingestion
    url: str

    def sweep(self, *names: str) -> None:
        for name in names or tuple(self.sources):
            outcome = pipeline.sweep_once(self.engine, self.sources[name], utc_now, self.ingestion)
            assert outcome.error is None, (name, outcome.error)

    def send_replies(self) -> int:
        sent = 0
        policy = ReplyPolicy(worker_id="browser-test-worker")
        while pipeline.send_one_reply(self.engine, self.sources, utc_now, policy):
            sent += 1
        return sent

    def comment_of(self, incident_id: int) -> Any:
        """The incident's comment: its post, its id on the platform."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(db.comments.c.post_id, db.comments.c.external_id)
                .join(db.incidents, db.incidents.c.comment_id == db.comments.c.id)
                .where(db.incidents.c.id == incident_id)
            ).one()

    def status_of(self, incident_id: int) -> str:
        with self.engine.connect() as conn:
            return str(
                conn.execute(
                    select(db.incidents.c.status).where(db.incidents.c.id == incident_id)
                ).scalar_one()
            )


@pytest.fixture
def vk_setup() -> VkSetup:
    """The demo's community is seeded by the ``world`` fixture; here only the tokens."""
    return VkSetup(
        groups=(),
        users={},
        tokens=(VkToken("community", "community", GID), VkToken("service", "service")),
    )


@pytest.fixture
def world(engine: Engine, fake_vk: FakeVk) -> Iterator[ThreePlatforms]:
    now = utc_now()
    seed_demo(fake_vk, GID, random.Random(7), now.timestamp())
    fake_tg = demo_telegram.new_fake()
    demo_telegram.seed_telegram(fake_tg, random.Random(9), now.timestamp())
    with FakeOk(
        application_key=demo_ok.APPLICATION_KEY,
        application_secret_key=demo_ok.APPLICATION_SECRET_KEY,
    ) as fake_ok:
        demo_ok.seed_ok(fake_ok, random.Random(8), now.timestamp())
        fake_ok.refuse_replies(OK_REFUSES_WITH)
        vk = VkSource(
            name="vk-demo",
            group_id=GID,
            community_token="community",
            sweep_token="service",
            session_factory=fake_vk.session,
            throttle=False,
            retry=RetryPolicy(attempts=3, initial=0.001, maximum=0.01),
            longpoll_wait=1,
            rng=random.Random(1),
        )
        ok = OkSource(
            name="ok-demo",
            group_id=demo_ok.GROUP_ID,
            application_key=demo_ok.APPLICATION_KEY,
            application_secret_key=demo_ok.APPLICATION_SECRET_KEY,
            access_token=demo_ok.ACCESS_TOKEN,
            base_url=fake_ok.url,
            retry=OkRetry(attempts=3, initial=0.001, maximum=0.01),
            rng=random.Random(2),
            http_timeout=5.0,
        )
        telegram = TelegramSource(
            name="tg-demo",
            community=demo_telegram.CHANNEL,
            gateway=fake_tg,
            listen_wait=0.1,
            retry=TelegramRetry(attempts=3, initial=0.001, maximum=0.01),
            rng=random.Random(3),
        )
        sources: dict[str, Source] = {s.name: s for s in (vk, ok, telegram)}
        add_user(engine, "anna", Role.STAFF, now)
        suggestions = load_suggestions(ROOT / "rules", ROOT / "replies")
        suggestions.hotline = "8 800 000-00-00"
        for place in (
            (Platform.VK.value, str(GID)),
            (Platform.OK.value, str(demo_ok.GROUP_ID)),
            (Platform.TELEGRAM.value, demo_telegram.CHANNEL),
        ):
            suggestions.places[place] = ("Комитет по защите прав потребителей", "")
        app = make_app(engine, utc_now, suggestions=suggestions, refresh_seconds=1)
        try:
            with BackgroundServer(app) as server:
                w = ThreePlatforms(
                    engine,
                    fake_vk,
                    fake_ok,
                    fake_tg,
                    sources,
                    Ingestion(deadline=working_hours_policy(SlaSettings()), classify=classifier()),
                    server.url,
                )
                w.sweep()
                yield w
        finally:
            for source in sources.values():
                source.close()
        assert fake_ok.protocol_errors == []


def answer_from_the_queue(page: Any, url: str, platform: str, signature: str) -> tuple[int, str]:
    """Filter the queue to ``platform``, open its first card, edit the suggested reply and send
    it. The incident's id and the text sent."""
    page.goto(f"{url}/queue")
    page.select_option("select[name=platform]", platform)
    page.click(".filters button[type=submit]")
    page.wait_for_url(re.compile(rf".*platform={platform}.*"))
    row = page.locator("#queue-rows tr.row").first
    incident_id = int(row.get_attribute("data-id") or "0")
    row.click()
    page.wait_for_url(f"{url}/incidents/{incident_id}")
    editor = page.locator("#reply-text")
    draft = editor.input_value()
    assert draft.strip(), "the card suggests a reply"
    edited = re.sub(r"\[[^\]]+\]", "8 800 000-00-00", draft) + f" {signature}"
    editor.fill(edited)
    page.click("#send-reply")
    page.locator("#replies", has_text="ждёт отправки").wait_for(timeout=5_000)
    return incident_id, edited.strip()


def test_one_reply_on_each_platform_is_posted_on_its_own_fake(
    world: ThreePlatforms, browser: Any
) -> None:
    page = log_in(browser, world.url, "anna")

    vk_id, vk_text = answer_from_the_queue(page, world.url, "vk", "Ответ во ВКонтакте.")
    assert world.send_replies() == 1
    assert [c["text"] for c in world.vk.created] == [vk_text]
    page.locator("#replies .posted-link").wait_for(timeout=10_000)
    assert world.status_of(vk_id) == "answered"

    tg_id, tg_text = answer_from_the_queue(page, world.url, "telegram", "Ответ в Telegram.")
    assert world.send_replies() == 1
    tg_comment = world.comment_of(tg_id)
    assert [(m.text, str(m.reply_to), m.as_channel) for m in world.telegram.sent] == [
        (tg_text, tg_comment.external_id, True)
    ]
    page.locator("#replies .posted-link").wait_for(timeout=10_000)
    assert world.status_of(tg_id) == "answered"

    ok_id, ok_text = answer_from_the_queue(page, world.url, "ok", "Ответ в Одноклассниках.")
    assert world.send_replies() == 1  # tried once: OK refuses it, no retry
    assert world.ok.created == []
    ok_comment = world.comment_of(ok_id)
    link = ok_comment_link(str(demo_ok.GROUP_ID), ok_comment.post_id, ok_comment.external_id, None)
    assert link is not None
    # the card follows the reply by itself: failed, with the manual path and its link
    replies = page.locator("#replies")
    replies.locator(".ob-failed").wait_for(timeout=10_000)
    assert f"ответьте вручную по ссылке {link}" in replies.inner_text()
    assert page.locator(f'a[href="{link}"]').count() >= 1  # the card's link to the comment
    assert world.status_of(ok_id) == "open"

    # a person follows the link and answers in OK as the group; the next sweep records it
    world.ok.add_group_answer(ok_comment.post_id, ok_text, reply_to=ok_comment.external_id)
    world.sweep("ok-demo")
    assert world.status_of(ok_id) == "answered"
    page.reload()
    assert "отвечен" in page.locator(".card-head h1").inner_text()
    assert world.send_replies() == 0
    assert len(world.vk.created) == len(world.telegram.sent) == 1
    page.context.close()
