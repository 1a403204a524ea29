"""Repeats and mass issues: which comments are near-duplicates, how a group is shown and
answered once, and the supervisors' alert when one organisation or address gathers complaints.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select
from starlette.testclient import TestClient

from incident import db, inbox, pipeline
from incident.alerts import find_mass_issues, mass_issues_once
from incident.db import make_engine
from incident.inbox import calendar_hours
from incident.inbox.repeats import HIT_ROWS
from incident.models import Batch, ChangeKind, Comment, CommentChange, Platform
from incident.notify import NotifyError
from incident.repeats import (
    Earlier,
    entities,
    find_repeat,
    near_duplicate,
    personalise,
    signature,
)
from incident.users import Role
from incident.web import queries
from tests.conftest import FakeClock
from tests.world import COMMUNITY, add_incident, add_user, csrf_of, login, make_app

# ----- the pure rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('В аптеке "Ригла" на ул. Ленина, 5 продают просрочку', {"org:ригл", "addr:ленин 5"}),
        ("Аптека Ригла опять обсчитала", {"org:ригл"}),
        ("На улице Ленина д. 5 третий день не вывозят мусор", {"addr:ленин 5"}),
        ("ООО Ромашка не возвращает деньги за тур", {"org:ромашк"}),
        ("В магазине Магнит на проспекте Мира 12а грязно", {"org:магнит", "addr:мир 12а"}),
        ("Помогите, пожалуйста, куда писать?", set()),
        ("«Здравствуйте» говорить не учили", set()),
    ],
)
def test_organisations_and_addresses_are_named_by_their_stems(
    text: str, expected: set[str]
) -> None:
    assert entities(text) == expected


def sig(author: str, text: str, topic: str | None = "trade") -> Any:
    return signature(author, text, topic)


def test_the_same_person_repeating_under_another_post_is_a_repeat() -> None:
    first = sig("vk:1", "Купил в магазине протухшее молоко, верните деньги!")
    again = sig("vk:1", "купил протухшее молоко в магазине, верните мне деньги")
    other = sig("vk:1", "А когда починят дорогу у школы?", "transport")
    assert near_duplicate(first, again)
    assert not near_duplicate(first, other)


def test_a_copied_complaint_by_another_person_is_a_repeat_but_a_short_cry_is_not() -> None:
    text = "Купил в магазине протухшее молоко, верните деньги!"
    assert near_duplicate(sig("vk:1", text), sig("ok:2", text))
    assert not near_duplicate(sig("vk:1", "Безобразие!"), sig("vk:2", "Безобразие!"))
    assert not near_duplicate(
        sig("vk:1", "В школе холодно, дети мёрзнут на уроках"),
        sig("vk:2", "В поликлинике очереди, врачей не хватает совсем"),
    )


def test_different_numbers_are_different_matters_whatever_the_words() -> None:
    assert not near_duplicate(
        sig("vk:1", "Где мой заказ номер 5, уже неделю жду"),
        sig("vk:1", "Где мой заказ номер 17, уже неделю жду"),
    )
    assert near_duplicate(
        sig("vk:1", "Где мой заказ номер 5, уже неделю жду"),
        sig("vk:1", "Где же мой заказ номер 5, жду уже неделю!"),
    )
    assert not near_duplicate(sig("vk:1", "Обращение номер 3"), sig("vk:1", "Обращение номер 30"))


def test_people_about_one_organisation_are_a_group_unless_their_topics_differ() -> None:
    a = sig("vk:1", "В «Пятёрочке» продали просроченный творог", "trade")
    b = sig("vk:2", "Пятёрочка обсчитала на кассе, чек не дали", "trade")
    c = sig("vk:3", "Возле «Пятёрочки» яма на дороге", "transport")
    d = sig("vk:4", "Возле Пятёрочки что-то непонятное", None)
    assert near_duplicate(a, b)
    assert not near_duplicate(a, c)
    assert near_duplicate(a, d)  # no topic: the organisation decides


SAMPLES = [
    ("vk:1", "Купил в магазине протухшее молоко, верните деньги!", "trade"),
    ("vk:2", "Когда починят дорогу у школы?", "transport"),
    ("ok:3", "В «Пятёрочке» продали просроченный творог", "trade"),
    ("vk:4", "Безобразие!", None),
    ("vk:5", "Купил протухшее молоко в магазине, верните деньги", "trade"),
    ("vk:2", "когда уже починят дорогу возле школы", "transport"),
    ("tg:6", "Пятёрочка обсчитала на кассе, чек не дали", "trade"),
    ("vk:7", "Безобразие!", None),
    ("vk:8", "На улице Ленина д. 5 не вывозят мусор", "housing"),
    ("vk:9", "ул. Ленина, 5: мусор лежит неделю", "housing"),
]


def test_the_index_finds_what_a_comparison_with_each_finds() -> None:
    signatures = [sig(*sample) for sample in SAMPLES]
    index = Earlier()
    found = []
    for n, new in enumerate(signatures):
        expected = find_repeat(new, signatures[:n])
        assert index.find(new) == expected
        found.append(expected)
        index.add(new)
    assert found == [None, None, None, None, 0, 1, 2, None, None, 8]


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        (
            "Здравствуйте! Проверим магазин.",
            "Анна Петрова",
            "Анна, здравствуйте! Проверим магазин.",
        ),
        ("Иван, добрый день! Проверим.", "Ольга", "Ольга, здравствуйте! Проверим."),
        ("Проверим магазин.", None, "Здравствуйте! Проверим магазин."),
        ("Проверим магазин.", "[id1|@all]", "Здравствуйте! Проверим магазин."),
        ("Проверим магазин.", "=HYPERLINK(1)", "Здравствуйте! Проверим магазин."),
    ],
)
def test_each_author_gets_their_own_greeting(text: str, name: str | None, expected: str) -> None:
    assert personalise(text, name) == expected


# ----- grouped by the worker's repeat step, shown as one row ---------------------------------

COPY = "Купил в магазине протухшее молоко, верните деньги!"


def group_world(engine: Engine, now: Any) -> list[int]:
    """Three people post the same complaint under three posts; a fourth writes about roads."""
    ids = []
    for n, (author, name) in enumerate(
        [("1", "Анна Петрова"), ("2", "Борис"), ("3", "[id1|@all]")], start=1
    ):
        found = add_incident(
            engine,
            now,
            COPY,
            external_id=f"c{n}",
            post_id=f"p{n}",
            author_id=author,
            author_name=name,
            topic="trade",
        )
        assert found is not None
        ids.append(found)
    other = add_incident(
        engine, now, "Когда починят дорогу у школы №5?", external_id="c9", author_id="9"
    )
    assert other is not None
    assert pipeline.link_repeats_once(engine) == 4  # the worker's repeat step
    return [*ids, other]


def test_repeats_point_at_the_first_incident_and_the_queue_shows_the_group_once(
    engine: Engine, clock: FakeClock
) -> None:
    head, second, third, other = group_world(engine, clock())
    with engine.connect() as conn:
        links = dict(conn.execute(select(db.incidents.c.id, db.incidents.c.repeat_of)).all())
        rows = queries.queue(conn, queries.QueueFilter(), "anna", clock())
        _, sizes = queries.row_marks(conn, rows)
        group = inbox.group_of(conn, third)
        found = queries.queue(conn, queries.QueueFilter(q="молоко"), "anna", clock())
    assert links == {head: None, second: head, third: head, other: None}
    assert sorted(r.id for r in rows) == [head, other]
    assert sizes == {head: 2}
    assert [m.id for m in group] == [head, second, third]
    assert len(found) == 3  # a search still finds each comment


def pending(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(db.repeat_pending.c.incident_id)).scalars())


def test_ingest_only_notes_new_incidents_and_the_repeat_step_groups_them_in_bulk(
    engine: Engine, clock: FakeClock
) -> None:
    # opening an incident costs ingest one insert; the comparison is the worker's repeat step
    first = add_incident(engine, clock(), COPY, external_id="a", author_id="1")
    second = add_incident(engine, clock(), COPY, external_id="b", author_id="2")
    assert sorted(pending(engine)) == sorted([first, second])
    with engine.connect() as conn:
        assert conn.execute(select(db.incidents.c.repeat_of)).scalars().all() == [None, None]
    # a small batch per transaction: every pending incident is compared, each once
    third = add_incident(engine, clock(), COPY, external_id="c", author_id="3")
    assert pipeline.link_repeats_once(engine, limit=2) == 3
    assert pending(engine) == []
    with engine.connect() as conn:
        links = dict(conn.execute(select(db.incidents.c.id, db.incidents.c.repeat_of)).all())
    assert links == {first: None, second: first, third: first}
    assert pipeline.link_repeats_once(engine) == 0  # nothing new: nothing compared


BASES = [
    "купил в магазине на углу протухшее молоко и кассир отказался вернуть деньги",
    "в поликлинике номер два нет талонов к терапевту уже третью неделю подряд",
    "автобус сорок второго маршрута опять не пришёл утром люди опоздали на работу",
    "управляющая компания не вывозит мусор со двора больше недели пахнет ужасно",
    "в кафе на площади подали несвежий салат и официант нагрубил моей маме",
    "интернет от провайдера пропадает каждый вечер а поддержка не отвечает",
]


def test_hundreds_pending_at_once_are_grouped_as_comparing_each_with_those_before_it(
    engine: Engine, clock: FakeClock
) -> None:
    # more than one cdist block (HIT_ROWS texts), copies by others, an author repeating
    # himself, short cries, and numbers that make the same words another matter
    rng = random.Random(7)
    changes = []
    for n in range(HIT_ROWS + 200):
        words = rng.choice(BASES).split()
        if rng.random() < 0.3:
            words.pop(rng.randrange(len(words)))
        if rng.random() < 0.2:
            words.append(str(rng.randint(1, 3)))
        text = " ".join(words) if rng.random() < 0.9 else "безобразие!"
        c = Comment(
            platform=Platform.VK,
            community=COMMUNITY,
            post_id="7",
            external_id=f"c{n}",
            author_id=str(rng.randint(1, 400)),
            text=text,
            created_at=clock() - timedelta(minutes=1000 - n),
        )
        changes.append(
            CommentChange(ChangeKind.NEW, c.platform, c.community, c.external_id, "7", c)
        )
    with engine.begin() as conn:
        inbox.ingest(
            conn, "vk-test", Batch(tuple(changes), {}), clock(), deadline=calendar_hours(8)
        )
    assert pipeline.link_repeats_once(engine, limit=10_000) > 0
    with engine.connect() as conn:
        rows = conn.execute(
            select(db.incidents.c.id, db.incidents.c.repeat_of, db.comments.c.author_id)
            .add_columns(db.comments.c.text, db.incidents.c.topic)
            .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
            .order_by(db.incidents.c.id)
        ).all()
    signatures = [signature(f"vk:{r.author_id}", r.text, r.topic) for r in rows]
    heads: list[int] = []
    for n, r in enumerate(rows):
        found = find_repeat(signatures[n], signatures[:n])
        heads.append(r.id if found is None else heads[found])
    assert [r.repeat_of or r.id for r in rows] == heads
    assert len(set(heads)) < len(rows) // 10  # a few groups, not hundreds of singles


def test_one_worker_at_a_time_links_repeats_on_postgresql(pg_database: str) -> None:
    # two workers on one database: the second finds the step taken and leaves at once,
    # rather than comparing the same incidents again or waiting for the first
    eng = make_engine(pg_database)
    try:
        with eng.begin() as conn:
            conn.execute(delete(db.repeat_pending))
            conn.execute(insert(db.repeat_pending), [{"incident_id": -1}, {"incident_id": -2}])
        with eng.begin() as first:
            assert inbox.link_pending_repeats(first) == (2, 0)  # no such incidents: none linked
            with eng.begin() as second:
                assert inbox.link_pending_repeats(second) == (0, 0)
        assert pending(eng) == []
    finally:
        eng.dispose()


def test_a_comment_older_than_a_day_starts_no_group(engine: Engine, clock: FakeClock) -> None:
    first = add_incident(engine, clock(), COPY, external_id="a", author_id="1")
    clock.now += timedelta(hours=25)
    later = add_incident(engine, clock(), COPY, external_id="b", author_id="2")
    # compared in one run of the repeat step (the worker was away): the window still holds
    assert pipeline.link_repeats_once(engine) == 2
    with engine.connect() as conn:
        assert inbox.group_of(conn, first or 0) == []
        assert (
            conn.execute(
                select(db.incidents.c.repeat_of).where(db.incidents.c.id == later)
            ).scalar()
            is None
        )


def outbox_texts(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(db.outbox.c.incident_id, db.outbox.c.text)).all())


def test_one_answer_is_queued_for_each_chosen_incident_with_its_own_greeting(
    engine: Engine, clock: FakeClock
) -> None:
    head, second, third, other = group_world(engine, clock())
    add_user(engine, "anna", Role.STAFF, clock())
    with engine.begin() as conn:
        inbox.queue_reply(conn, second, "Уже ответили.", "anna", clock())
    with engine.begin() as conn:
        done = inbox.reply_to_group(
            conn, head, [head, second, third, other], "Здравствуйте! Проверим.", "anna", clock()
        )
    assert sorted(done.queued) == [head, third]
    assert set(done.refused) == {second, other}
    texts = outbox_texts(engine)
    assert texts[head] == "Анна, здравствуйте! Проверим."
    assert texts[third] == "Здравствуйте! Проверим."  # a mention is no name
    assert texts[second] == "Уже ответили."
    assert other not in texts


# ----- through the card --------------------------------------------------------------------


@pytest.fixture
def anna(engine: Engine, clock: FakeClock) -> Iterator[TestClient]:
    add_user(engine, "anna", Role.STAFF, clock())
    with TestClient(make_app(engine, clock)) as client:
        assert login(client, "anna").status_code == 303
        yield client


def test_the_card_lists_the_group_and_answers_all_at_once(
    engine: Engine, clock: FakeClock, anna: TestClient
) -> None:
    head, second, third, _ = group_world(engine, clock())
    page = anna.get(f"/incidents/{second}")
    assert "Похожие обращения (3)" in page.text
    assert "Ответить всем" in page.text
    assert "+2 похожих" in anna.get("/queue").text
    token = csrf_of(anna, f"/incidents/{second}")
    answer = anna.post(
        f"/incidents/{second}/group-reply",
        data={
            "ids": [str(head), str(second), str(third)],
            "text": "Проверим.",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert outbox_texts(engine) == {
        head: "Анна, здравствуйте! Проверим.",
        second: "Борис, здравствуйте! Проверим.",
        third: "Здравствуйте! Проверим.",
    }
    assert "Ответ поставлен в очередь: 3 обращения." in anna.get(f"/incidents/{second}").text


def test_an_empty_group_answer_is_refused_and_nothing_is_queued(
    engine: Engine, clock: FakeClock, anna: TestClient
) -> None:
    head, second, _, _ = group_world(engine, clock())
    token = csrf_of(anna, f"/incidents/{head}")
    anna.post(
        f"/incidents/{head}/group-reply",
        data={"ids": [str(head), str(second)], "text": "   ", "csrf_token": token},
    )
    assert outbox_texts(engine) == {}


# ----- the mass-issue alert ----------------------------------------------------------------


class Recorder:
    """A warning channel that keeps what it was given (or refuses, when ``down``)."""

    name = "recorder"

    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.sent: list[tuple[str, str]] = []

    def send(self, subject: str, text: str) -> None:
        if self.down:
            raise NotifyError("recorder: down", transient=True)
        self.sent.append((subject, text))


def complaints(engine: Engine, now: Any, n: int, *, authors: int | None = None) -> None:
    texts = [
        "В аптеке «Ригла» продают просроченные лекарства",
        "Аптека Ригла опять нагрубили фармацевты",
        "Ригла: в аптеке «Ригла» нет сдачи, обсчитали",
        "Почему в «Ригле» цены на кассе другие?",
        "«Ригла» на углу не принимает карты",
        "В «Ригла» очередь на час",
    ]
    for k in range(n):
        author = str(k if authors is None else k % authors)
        add_incident(
            engine, now, texts[k % len(texts)], external_id=f"m{k}", author_id=author, topic="trade"
        )


def test_five_people_about_one_pharmacy_alert_once_a_day(engine: Engine, clock: FakeClock) -> None:
    complaints(engine, clock(), 5)
    channel = Recorder()
    assert mass_issues_once(engine, [channel], clock(), 5, base_url="https://x.ru") == 1
    assert mass_issues_once(engine, [channel], clock() + timedelta(hours=1), 5) == 0
    assert len(channel.sent) == 1
    subject, text = channel.sent[0]
    assert subject == "Массовые жалобы: 5 обращений за сутки, организация «Ригла»"
    assert "https://x.ru/incidents/" in text
    clock.now += timedelta(hours=25)
    assert mass_issues_once(engine, [channel], clock(), 5) == 0  # none opened within 24 h now


def test_fewer_people_or_one_person_writing_often_is_no_mass_issue(
    engine: Engine, clock: FakeClock
) -> None:
    complaints(engine, clock(), 6, authors=2)
    assert find_mass_issues(engine, clock(), 3) == []
    assert [m.key for m in find_mass_issues(engine, clock(), 2)] == ["org:ригл"]
    assert mass_issues_once(engine, [Recorder()], clock(), 0) == 0  # 0: off


def test_an_alert_no_channel_delivered_is_tried_again(engine: Engine, clock: FakeClock) -> None:
    complaints(engine, clock(), 5)
    down = Recorder(down=True)
    assert mass_issues_once(engine, [down], clock(), 5) == 0
    up = Recorder()
    assert mass_issues_once(engine, [up], clock() + timedelta(minutes=1), 5) == 1
    assert len(up.sent) == 1


def test_the_api_answers_a_group_and_says_which_were_refused(
    engine: Engine, clock: FakeClock, anna: TestClient
) -> None:
    head, second, third, other = group_world(engine, clock())
    token = anna.get("/api/me").json()["csrf_token"]
    card = anna.get(f"/api/incidents/{third}").json()
    assert [m["id"] for m in card["group"]] == [head, second, third]
    assert anna.get("/api/incidents").json()["items"][0]["similar"] == 2
    answer = anna.post(
        f"/api/incidents/{third}/group-reply",
        json={"ids": [head, third, other], "text": "Проверим."},
        headers={"X-CSRF-Token": token},
    )
    assert answer.status_code == 200
    assert sorted(int(i) for i in answer.json()["queued"]) == [head, third]
    assert answer.json()["refused"] == {str(other): "Это обращение не из этой группы."}
    lonely = anna.post(
        f"/api/incidents/{other}/group-reply",
        json={"ids": [other], "text": "Проверим."},
        headers={"X-CSRF-Token": token},
    )
    assert lonely.status_code == 409


def test_an_edited_complaint_is_compared_by_its_new_text(engine: Engine, clock: FakeClock) -> None:
    # incidents' texts are kept between batches: an edit (which moves updated_at) is read again
    first = add_incident(engine, clock(), "Такси не приехало, заказ висел час", external_id="e1")
    assert add_incident(engine, clock(), "Автобус 12 опять не пришёл", external_id="e2") is not None
    assert pipeline.link_repeats_once(engine) == 2
    comment = Comment(
        platform=Platform.VK,
        community=COMMUNITY,
        post_id="7",
        external_id="e1",
        author_id="1001",
        author_name="Анна Петрова",
        text=COPY,
        created_at=clock() - timedelta(hours=1),
    )
    edit = CommentChange(
        kind=ChangeKind.EDIT,
        platform=Platform.VK,
        community=COMMUNITY,
        external_id="e1",
        post_id="7",
        comment=comment,
    )
    clock.now += timedelta(minutes=5)
    with engine.begin() as conn:
        inbox.ingest(conn, "vk-test", Batch(changes=(edit,)), clock(), deadline=calendar_hours(8))
    copied = add_incident(engine, clock(), COPY, external_id="e3", author_id="2002")
    assert pipeline.link_repeats_once(engine) == 1
    with engine.connect() as conn:
        linked = conn.execute(
            select(db.incidents.c.repeat_of).where(db.incidents.c.id == copied)
        ).scalar()
    assert linked == first
