"""Repeats in a real browser: three people post the same complaint under three posts of the
fake VK, the queue shows them as one row, the card answers all three at once, and the
worker's sender posts one reply to each comment, each greeting its own author."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

from incident import db
from incident.models import IncidentStatus
from tests.browser import test_browser_flow as flow
from tests.browser.test_browser_flow import GID, LiveWorld, log_in

world = flow.world  # the fake VK with the demo's community, the worker's pieces, the web app
vk_setup = flow.vk_setup

pytestmark = pytest.mark.browser

COPY = "Купил в ларьке у остановки протухший кефир, продавец отказывается вернуть деньги"


def test_a_group_of_near_duplicates_is_answered_once_and_each_comment_gets_its_reply(
    world: LiveWorld, browser: Any, engine: Engine
) -> None:
    posts = world.fake.post_ids(GID)[:3]
    people = [(9_100_001, "Ольга"), (9_100_002, "Пётр"), (9_100_003, "DELETED")]
    comments = []
    for n, ((user, name), post) in enumerate(zip(people, posts, strict=True)):
        world.fake.add_user(user, name, "Иванова" if name == "Ольга" else "")
        comments.append(world.fake.add_comment(GID, post, user, COPY, date=10 + n))
    world.sweep()
    assert world.link_repeats() >= 3  # the demo world's own comments are compared too
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                select(db.incidents.c.id)
                .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
                .where(db.comments.c.text == COPY)
                .order_by(db.incidents.c.id)
            ).scalars()
        )
    assert len(ids) == 3

    anna = log_in(browser, world.url, "anna")
    anna.goto(f"{world.url}/queue")
    row = anna.locator(f"#queue-rows tr.row[data-id='{ids[0]}']")
    assert "+2 похожих" in row.inner_text()
    assert anna.locator(f"#queue-rows tr.row[data-id='{ids[1]}']").count() == 0

    row.locator("a").first.click()
    anna.wait_for_url(f"{world.url}/incidents/{ids[0]}")
    assert "Похожие обращения (3)" in anna.locator("#group h2").inner_text()
    assert anna.locator("#group input[name=ids]:checked").count() == 3
    anna.fill("#group-text", "Здравствуйте! Передали жалобу в отдел торговли, проверим ларёк.")
    anna.locator("#group-send").click()
    anna.wait_for_url(f"{world.url}/incidents/{ids[0]}")
    assert "Ответ поставлен в очередь: 3 обращения." in anna.content()

    assert world.send_replies() == 3
    posted = {c["reply_to_comment"]: c["text"] for c in world.fake.created}
    body = "Передали жалобу в отдел торговли, проверим ларёк."
    assert posted == {
        comments[0]: f"Ольга, здравствуйте! {body}",
        comments[1]: f"Пётр, здравствуйте! {body}",
        comments[2]: f"Здравствуйте! {body}",  # a deleted account's placeholder is no name
    }
    with engine.connect() as conn:
        statuses = conn.execute(
            select(db.incidents.c.status).where(db.incidents.c.id.in_(ids))
        ).scalars()
        assert set(statuses) == {IncidentStatus.ANSWERED.value}
    anna.context.close()
