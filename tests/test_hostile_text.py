"""Any text a platform sends is stored, and never blocks the comments after it.

A lone UTF-16 surrogate is valid JSON (``"\\ud800"``) but no database can encode it; PostgreSQL
refuses NUL in text and jsonb. Such characters become U+FFFD; everything else is kept as
written. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from incident import db, inbox, pipeline
from incident.inbox import calendar_hours
from incident.inbox.storable import storable_json, storable_text
from incident.models import Batch, ChangeKind, Comment, CommentChange, Platform
from incident.pipeline import Ingestion
from incident.sources.fakes.vk_server import FakeVk
from incident.sources.vk import VkSource
from tests.conftest import FakeClock
from tests.test_worker_vk import GID, source_for
from tests.world import VkGroup, VkSetup, VkToken

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
HOSTILE = [
    "lone high surrogate \ud800 in the middle",
    "lone low surrogate at the end \udfff",
    "NUL \x00 byte",
    "C0 \x01\x07\x1b and C1 \x85\x9b controls",
    "bidi \u202eesrever\u202c and zero width \u200b",
    "emoji 😀 and a joined family 👨\u200d👩\u200d👧",
    "магазин " * 12_500,  # 100 kB
]


@pytest.fixture
def vk_setup() -> VkSetup:
    return VkSetup(
        groups=(VkGroup(GID, "Комитет"),),
        tokens=(VkToken(f"community-{GID}", "community", GID), VkToken("service", "service")),
        users={1001: ("Анна", "Петрова"), 1002: ("Борис", "Смирнов"), 1003: ("Вера", "Иванова")},
    )


def comment(cid: int, text: str, **kw: Any) -> Comment:
    values: dict[str, Any] = {
        "platform": Platform.VK,
        "community": "42",
        "post_id": "7",
        "external_id": str(cid),
        "author_id": "1001",
        "text": text,
        "created_at": T0 + timedelta(minutes=cid),
        "raw": {"id": cid, "text": text},
    }
    values.update(kw)
    return Comment(**values)


def new(c: Comment) -> CommentChange:
    return CommentChange(ChangeKind.NEW, c.platform, c.community, c.external_id, c.post_id, c)


def stored(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(select(db.comments).order_by(db.comments.c.id)).all()
    return {r.external_id: r for r in rows}


def test_storable_text_replaces_only_what_a_database_refuses() -> None:
    assert storable_text("a\ud800b\x00c\udfff") == "a\ufffdb\ufffdc\ufffd"
    kept = "C0 \x01 C1 \x85 bidi \u202e emoji 😀"
    assert storable_text(kept) is kept
    raw = {"ok": [1, "fine"], "key\x00": {"nested": ["x\ud800"]}}
    assert storable_json(raw) == {"ok": [1, "fine"], "key\ufffd": {"nested": ["x\ufffd"]}}
    untouched = {"a": ["b", 1, None]}
    assert storable_json(untouched) is untouched


def test_every_hostile_text_is_stored_and_the_comments_after_it_too(engine: Engine) -> None:
    changes = [new(comment(i, text)) for i, text in enumerate(HOSTILE, start=1)]
    changes.append(new(comment(99, "Магазин не вернул деньги")))
    with engine.begin() as conn:
        result = inbox.ingest(
            conn, "vk-test", Batch(tuple(changes)), T0, deadline=calendar_hours(8)
        )
    assert (result.stored, result.incidents) == (len(HOSTILE) + 1, len(HOSTILE) + 1)
    rows = stored(engine)
    for i, text in enumerate(HOSTILE, start=1):
        assert rows[str(i)].text == storable_text(text)
        assert rows[str(i)].raw["text"] == storable_text(text)
    assert rows["1"].text == "lone high surrogate \ufffd in the middle"
    assert rows["3"].text == "NUL \ufffd byte"
    assert rows["4"].text == HOSTILE[3]  # other controls are kept as written
    assert len(rows["7"].text) == len(HOSTILE[6])
    assert rows["99"].text == "Магазин не вернул деньги"


def test_hostile_author_names_edits_and_cursors_are_stored(engine: Engine) -> None:
    first = comment(1, "Первый", author_name="Имя\ud800\x00", raw={"k\x00": "v\udc00"})
    edit = CommentChange(
        ChangeKind.EDIT, Platform.VK, "42", "1", "7", comment(1, "Правка \x00 текста")
    )
    with engine.begin() as conn:
        inbox.ingest(
            conn,
            "vk-test",
            Batch((new(first), edit), {"post:7": "cursor\ud800"}),
            T0,
            deadline=calendar_hours(8),
        )
        cursors = inbox.load_cursors(conn, "vk-test")
    row = stored(engine)["1"]
    assert row.author_name == "Имя\ufffd\ufffd"
    assert row.text == "Правка \ufffd текста"
    assert row.edits[0]["text"] == "Первый"
    assert cursors == {"post:7": "cursor\ufffd"}


def test_a_vk_comment_with_a_lone_surrogate_or_nul_does_not_stop_intake(
    engine: Engine, fake_vk: FakeVk, clock: FakeClock
) -> None:
    # The fake sends JSON with \ud800 escaped, as VK may: the real client decodes it.
    post = fake_vk.add_post(GID, "Пост")
    fake_vk.add_comment(GID, post, 1001, "До")
    fake_vk.add_comment(GID, post, 1002, "Сломанный \ud800 текст")
    fake_vk.add_comment(GID, post, 1003, "Нулевой \x00 байт")
    fake_vk.add_comment(GID, post, 1001, "После")
    with source_for(fake_vk) as source:
        outcome = pipeline.sweep_once(engine, source, clock, Ingestion(deadline=calendar_hours(8)))
        assert outcome.error is None
        later = fake_vk.add_comment(GID, post, 1002, "Ещё позже")
        assert later
        again = pipeline.sweep_once(engine, source, clock, Ingestion(deadline=calendar_hours(8)))
    assert again.error is None
    texts = [r.text for r in stored(engine).values()]
    assert texts == ["До", "Сломанный \ufffd текст", "Нулевой \ufffd байт", "После", "Ещё позже"]


@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_a_vk_author_name_with_a_lone_surrogate_is_stored(
    engine: Engine, fake_vk: FakeVk, clock: FakeClock, field: str
) -> None:
    names = {"first_name": "Анна", "last_name": "Петрова"}
    names[field] = "Ан\ud800на"
    fake_vk.add_user(2001, names["first_name"], names["last_name"])
    post = fake_vk.add_post(GID, "Пост")
    fake_vk.add_comment(GID, post, 2001, "Магазин обманул")
    source: VkSource
    with source_for(fake_vk) as source:
        outcome = pipeline.sweep_once(engine, source, clock, Ingestion(deadline=calendar_hours(8)))
    assert outcome.error is None
    (row,) = stored(engine).values()
    assert "\ufffd" in (row.author_name or "")
