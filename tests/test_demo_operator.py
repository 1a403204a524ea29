"""The demo's operator: answers the oldest open incident that nobody else works on, and leaves
the rest to people: a card someone holds or was assigned, a reply that failed (OK's
«ответьте вручную»)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from incident import db, inbox
from incident.commands.demo import DEMO_REPLY, OPERATOR, answer_oldest
from incident.models import Platform
from incident.users import Role
from tests.world import WORLD_WORKER, add_incident, add_user

NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def replies_of(engine: Engine, incident_id: int) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(db.outbox.c.text, db.outbox.c.created_by).where(
                db.outbox.c.incident_id == incident_id
            )
        )
        return [(r.text, r.created_by) for r in rows]


def incidents(engine: Engine, *ages_in_hours: int, platform: Platform = Platform.VK) -> list[int]:
    found = []
    for n, hours in enumerate(ages_in_hours):
        incident_id = add_incident(
            engine,
            NOW,
            f"Жалоба номер {n} на магазин",
            external_id=f"{platform.value}-{n}",
            author_id=str(2000 + n),
            age=timedelta(hours=hours),
            platform=platform,
        )
        assert incident_id is not None
        found.append(incident_id)
    return found


def test_the_operator_answers_the_oldest_open_incident(engine: Engine) -> None:
    newer, oldest = incidents(engine, 1, 3)
    assert answer_oldest(engine, NOW) == oldest
    assert replies_of(engine, oldest) == [(DEMO_REPLY, OPERATOR)]
    assert answer_oldest(engine, NOW) == newer  # the oldest has its reply now
    assert answer_oldest(engine, NOW) is None


def test_an_incident_a_person_holds_or_was_given_is_left_to_them(engine: Engine) -> None:
    held, assigned, free = incidents(engine, 5, 4, 1)
    add_user(engine, "boris", Role.STAFF, NOW)
    with engine.begin() as conn:
        assert inbox.claim(conn, held, "boris", NOW).by == "boris"
        inbox.assign(conn, assigned, "boris", "boris", NOW)
        inbox.release(conn, assigned, "boris", NOW)
    assert answer_oldest(engine, NOW) == free
    assert replies_of(engine, held) == replies_of(engine, assigned) == []
    # once Boris's claim has run out, the held one is free again; the assigned one stays his
    later = NOW + inbox.CLAIM_FOR + timedelta(seconds=1)
    assert answer_oldest(engine, later) == held
    assert answer_oldest(engine, later) is None


def test_an_incident_a_person_has_open_or_is_writing_to_is_left_to_them(engine: Engine) -> None:
    open_card, drafted, free = incidents(engine, 5, 4, 1)
    with engine.begin() as conn:  # Boris reads one card; Anna typed a reply to another
        inbox.see_card(conn, open_card, "boris", NOW)
        inbox.save_draft(conn, drafted, "anna", "Здравствуйте! Проверим", NOW)
    assert answer_oldest(engine, NOW) == free
    assert replies_of(engine, open_card) == replies_of(engine, drafted) == []
    # Boris closed the card without a word (no beacon): a quiet card frees it soon
    later = NOW + inbox.VIEWER_FRESH + timedelta(seconds=1)
    assert answer_oldest(engine, later) == open_card
    assert answer_oldest(engine, later) is None  # Anna's draft keeps hers a person's


def test_a_failed_reply_is_left_to_a_person_and_platforms_can_be_asked_for(
    engine: Engine,
) -> None:
    (refused,) = incidents(engine, 6, platform=Platform.OK)
    (tg,) = incidents(engine, 2, platform=Platform.TELEGRAM)
    assert answer_oldest(engine, NOW, "vk") is None
    assert answer_oldest(engine, NOW, "ok") == refused
    with engine.begin() as conn:  # OK refuses it: «ответьте вручную»
        claim = inbox.claim_reply(conn, WORLD_WORKER, NOW, timedelta(minutes=1))
        assert claim is not None
        assert claim.incident_id == refused
        inbox.mark_reply_failed(conn, claim, WORLD_WORKER, "ответьте вручную", NOW)
    assert answer_oldest(engine, NOW, "telegram") == tg
    later = NOW + inbox.CLAIM_FOR + timedelta(seconds=1)
    assert answer_oldest(engine, later) is None
    assert len(replies_of(engine, refused)) == 1
