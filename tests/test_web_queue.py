"""The queue: order, filters, search, paging, the live-refresh fragment, and safe display."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, update
from starlette.testclient import TestClient

from incident import db
from incident.db import make_engine
from incident.models import Platform
from incident.users import Role
from incident.web import display, queries
from tests.conftest import FakeClock
from tests.world import add_incident, add_user, login, make_app


@pytest.fixture
def client(engine: Engine, clock: FakeClock) -> Iterator[TestClient]:
    add_user(engine, "anna", Role.STAFF, clock())
    with TestClient(make_app(engine, clock)) as c:
        assert login(c, "anna").status_code == 303
        yield c


def ids(client: TestClient, **params: Any) -> list[int]:
    response = client.get("/api/incidents", params=params)
    assert response.status_code == 200
    return [r["id"] for r in response.json()["items"]]


def test_the_oldest_deadline_comes_first_and_incidents_without_one_last(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    late = add_incident(engine, clock(), "a", external_id="1", age=timedelta(hours=1))
    early = add_incident(engine, clock(), "b", external_id="2", age=timedelta(hours=5))
    none = add_incident(engine, clock(), "c", external_id="3", age=timedelta(hours=9))
    middle = add_incident(engine, clock(), "d", external_id="4", age=timedelta(hours=3))
    with engine.begin() as conn:
        conn.execute(update(db.incidents).where(db.incidents.c.id == none).values(due_at=None))
    assert ids(client) == [early, middle, late, none]


def test_paging_continues_past_the_incidents_with_a_deadline(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    made = [
        add_incident(engine, clock(), f"t{i}", external_id=str(i), age=timedelta(minutes=i))
        for i in range(queries.PAGE + 5)
    ]
    undated = made[:3]
    with engine.begin() as conn:
        conn.execute(update(db.incidents).where(db.incidents.c.id.in_(undated)).values(due_at=None))
    first, second = ids(client), ids(client, offset=queries.PAGE)
    assert len(first) == queries.PAGE
    assert len(second) == 5
    assert sorted(first + second) == sorted(made)
    assert second[-3:] == undated


def test_overdue_shows_only_incidents_past_their_deadline(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    over = add_incident(engine, clock(), "old", external_id="1", age=timedelta(hours=9))
    add_incident(engine, clock(), "new", external_id="2", age=timedelta(hours=1))
    assert ids(client, overdue="true") == [over]


def test_filters_by_platform_community_topic_and_status(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    vk = add_incident(engine, clock(), "vk", external_id="1", topic="trade")
    tg = add_incident(
        engine, clock(), "tg", external_id="2", platform=Platform.TELEGRAM, community="-100"
    )
    other = add_incident(engine, clock(), "vk2", external_id="3", community="43", topic="housing")
    assert ids(client, platform="telegram") == [tg]
    assert sorted(ids(client, community="42")) == [vk]
    assert ids(client, community="vk-43") == [other]  # the configured source name works too
    assert ids(client, topic="housing") == [other]
    with engine.begin() as conn:
        conn.execute(update(db.incidents).where(db.incidents.c.id == vk).values(status="closed"))
    assert ids(client, status="closed") == [vk]
    assert sorted(ids(client, status="all")) == sorted([vk, tg, other])


def test_search_finds_russian_words_whatever_their_case(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    hit = add_incident(engine, clock(), "Управляющая компания не вывозит мусор", external_id="1")
    add_incident(engine, clock(), "Такси нагрубило", external_id="2")
    percent = add_incident(engine, clock(), "Скидка 100% не дали", external_id="3")
    assert ids(client, q="мусор") == [hit]
    assert ids(client, q="управляющая") == [hit]
    assert ids(client, q="100%") == [percent]
    assert ids(client, q="%") == [percent]  # LIKE wildcards are searched for literally


def test_the_page_and_its_live_fragment_list_the_same_rows(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    add_incident(engine, clock(), "Первый комментарий", external_id="1")
    page = client.get("/queue").text
    fragment = client.get("/queue/rows").text
    assert fragment.startswith('<tbody id="queue-rows"')
    assert "Первый комментарий" in page
    assert "Первый комментарий" in fragment
    add_incident(engine, clock(), "Второй комментарий", external_id="2")
    assert "Второй комментарий" in client.get("/queue/rows").text


def test_untrusted_comment_text_is_escaped_in_the_queue_and_the_card(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)> \u202eabc\u200b ' + "Ж" * 5000
    incident = add_incident(engine, clock(), evil, external_id="1", author_name="<b>Мэллори</b>")
    for path in ("/queue", f"/incidents/{incident}"):
        html = client.get(path).text
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;" in html
        assert "&lt;b&gt;Мэллори&lt;/b&gt;" in html
        assert "\u202e" not in html
        assert "\u200b" not in html


def test_highlight_marks_matched_phrases_and_escapes_everything_else() -> None:
    text = "<b>Магазин</b> не вернул деньги"
    vernul, dengi = text.index("вернул"), text.index("деньги")
    matches = [
        {"span": [vernul, vernul + 6], "kind": "positive"},
        {"span": [dengi, dengi + 6], "kind": "urgent"},
        {"span": [vernul + 1, vernul + 3], "kind": "positive"},  # overlaps: skipped
        {"span": [dengi, len(text) + 5], "kind": "positive"},  # out of range: skipped
        {"span": "bad"},
    ]
    out = str(display.highlight(text, matches))
    assert out == (
        "&lt;b&gt;Магазин&lt;/b&gt; не "
        '<mark class="m-positive">вернул</mark> <mark class="m-urgent">деньги</mark>'
    )


def test_hidden_and_reordering_characters_are_removed_but_emoji_joiners_kept() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert display.clean("a\u202eb\u2066c\u200bd\ufeffe\x07f" + family) == "abcdef" + family


def test_time_left_turns_amber_then_red_then_overdue(clock: FakeClock) -> None:
    now = clock()
    assert display.time_left(now + timedelta(hours=5), now) == ("5 ч 00 м", "ok")
    assert display.time_left(now + timedelta(minutes=90), now) == ("1 ч 30 м", "amber")
    assert display.time_left(now + timedelta(minutes=20), now) == ("20 мин", "red")
    assert display.time_left(now - timedelta(days=1, hours=2), now) == ("−1 д 2 ч", "overdue")
    assert display.time_left(None, now) == ("без срока", "ok")


def test_times_are_shown_in_moscow_time(clock: FakeClock) -> None:
    assert display.msk(clock()) == "20.11 12:00"  # 09:00 UTC


@contextmanager
def _statements_sent(conn: Connection) -> Iterator[list[tuple[str, Any]]]:
    """The (statement, parameters) the connection sends inside the block, in order."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        sent.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(conn, "before_cursor_execute", record)


def _plan(conn: Connection, statement: str, parameters: Any) -> str:
    """The database's plan of a statement as sent, one line a step."""
    explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    return "\n".join(str(row[-1]) for row in conn.exec_driver_sql(explain + statement, parameters))


def test_one_quiet_page_is_found_through_indexes_not_by_reading_the_whole_open_queue(
    engine: Engine, clock: FakeClock
) -> None:
    """The page filter is ``source = X OR community = X``; both columns lead an index, so a
    page with few open incidents among many pages' costs a few index probes (bench/load.py:
    2.4 s a request under load with 1,000,000 incidents while ``source`` had none)."""
    now = clock()
    pages = [(f"vk-busy-{p}", str(p)) for p in range(40) for _ in range(75)]
    pages.append(("vk-quiet", "1000"))
    with engine.begin() as conn:
        for n, (source, community) in enumerate(pages, start=1):
            conn.execute(
                db.comments.insert().values(
                    id=n,
                    platform="vk",
                    community=community,
                    post_id="1",
                    external_id=str(n),
                    author_id=str(n),
                    text="Магазин не вернул деньги",
                    created_at=now,
                    seen_at=now,
                    from_community=False,
                    deleted=False,
                    edits=[],
                    raw={},
                    updated_at=now,
                )
            )
            conn.execute(
                db.incidents.insert().values(
                    id=n,
                    comment_id=n,
                    platform="vk",
                    community=community,
                    source=source,
                    status="open",
                    opened_at=now,
                    due_at=now + timedelta(minutes=n),
                    created_at=now,
                    updated_at=now,
                )
            )
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        with _statements_sent(conn) as sent:
            rows = queries.queue(conn, queries.QueueFilter(community="vk-quiet"), "anna", now)
        assert [r.id for r in rows] == [len(pages)]
        # sent[0] is the urgent incidents' part (few: the urgent queue index); sent[1] the page
        # of the other incidents with a deadline
        plan = _plan(conn, *sent[1])
    assert "ix_incidents_source_queue" in plan, plan


def _open_incidents(conn: Any, first: int, count: int, urgent: bool, now: Any) -> None:
    ids = range(first, first + count)
    conn.execute(
        db.comments.insert(),
        [
            {
                "id": n,
                "platform": "vk",
                "community": "1",
                "post_id": "1",
                "external_id": str(n),
                "author_id": str(n),
                "text": "Отравились в кафе" if urgent else "Магазин не вернул деньги",
                "created_at": now,
                "seen_at": now,
                "from_community": False,
                "deleted": False,
                "edits": [],
                "raw": {},
                "updated_at": now,
            }
            for n in ids
        ],
    )
    conn.execute(
        db.incidents.insert(),
        [
            {
                "id": n,
                "comment_id": n,
                "platform": "vk",
                "community": "1",
                "source": "vk-main",
                "status": "open",
                "urgent": urgent,
                "opened_at": now,
                "due_at": now + timedelta(minutes=n % 97),  # many share a deadline
                "created_at": now,
                "updated_at": now,
            }
            for n in ids
        ],
    )


def test_each_part_of_the_first_page_is_read_in_index_order_even_with_stale_statistics(
    engine: Engine, clock: FakeClock
) -> None:
    """The queue's parts are ordered by deadline and id. Their indexes hold both, so the
    database walks them and stops after a page, never reading and sorting every matching
    incident first, even when its statistics (taken before any urgent incident came in)
    believe there is nothing to sort: on the load benchmark's database that sort of the
    urgent incidents grew to 27 ms a request (0.7 ms walking the index)."""
    now = clock()
    with engine.begin() as conn:
        _open_incidents(conn, 1, 2000, False, now)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    with engine.begin() as conn:
        _open_incidents(conn, 2001, 400, True, now)
    with engine.connect() as conn:
        with _statements_sent(conn) as sent:
            rows = queries.queue(conn, queries.QueueFilter(), "anna", now)
        assert len(rows) == queries.PAGE
        assert all(r.urgent for r in rows)
        assert [(r.due_at, r.id) for r in rows] == sorted((r.due_at, r.id) for r in rows)
        plan = _plan(conn, *sent[0])  # the urgent incidents' part
        sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        assert "TEMP B-TREE" not in plan, plan
    else:
        assert "Sort" not in plan, plan
        assert "ix_incidents_urgent_queue" in plan, plan


def test_postgresql_rereads_the_incidents_statistics_after_one_percent_of_them_change(
    pg_database: str,
) -> None:
    """A table's statistics are re-read after a tenth of its rows change by default: months
    of a committee's traffic at a million incidents, while the queue's plans rest on them.
    (SQLite keeps no statistics of its own accord.)"""
    eng = make_engine(pg_database)
    try:
        with eng.connect() as conn:
            options = conn.exec_driver_sql(
                "SELECT reloptions FROM pg_class WHERE relname = 'incidents'"
            ).scalar_one()
    finally:
        eng.dispose()
    assert "autovacuum_analyze_scale_factor=0.01" in options
    assert "autovacuum_analyze_threshold=1000" in options
