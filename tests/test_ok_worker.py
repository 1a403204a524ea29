"""The worker with an OK source end to end: fake OK over HTTP, the pipeline, the database.

Every test here runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from incident import db, pipeline
from incident.inbox import calendar_hours
from incident.models import IncidentStatus, OutboxStatus
from incident.pipeline import Ingestion, ReplyPolicy
from incident.sources.fakes.ok_server import FakeOk
from incident.sources.ok import OkSource, comment_link
from incident.sources.ok.wire import parse_date
from tests.conftest import FakeClock
from tests.okworld import CITIZENS, GID, ok_source, serve_fake_ok
from tests.world import send_reply

INGESTION = Ingestion(deadline=calendar_hours(8))
ANNA = CITIZENS[1]


@pytest.fixture
def fake() -> Iterator[FakeOk]:
    with serve_fake_ok() as server:
        yield server


@pytest.fixture
def source(fake: FakeOk) -> Iterator[OkSource]:
    with ok_source(fake) as s:
        yield s


def incident_of(engine: Engine, external_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(db.incidents)
            .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
            .where(db.comments.c.external_id == external_id)
        ).one()


def incidents(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(db.incidents)).scalar_one())


def queue(engine: Engine, incident_id: int, text: str, clock: FakeClock) -> int:
    with engine.begin() as conn:
        return send_reply(conn, incident_id, text, "anna", clock())


def outbox_row(engine: Engine, outbox_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(db.outbox).where(db.outbox.c.id == outbox_id)).one()


def test_catch_up_stores_every_comment_once_and_opens_incidents(
    engine: Engine, fake: FakeOk, source: OkSource, clock: FakeClock
) -> None:
    post = fake.add_post(GID, "Пост")
    for n in range(130):
        fake.add_comment(post, CITIZENS[1 + n % 3], f"Магазин не вернул деньги {n}")
    first = pipeline.sweep_once(engine, source, clock, INGESTION)
    assert first.error is None
    assert (first.result.stored, first.result.incidents) == (130, 130)
    fake.add_comment(post, ANNA, "Ещё вопрос")
    second = pipeline.sweep_once(engine, source, clock, INGESTION)
    assert (second.result.stored, second.result.duplicates) == (1, 0)
    idle = pipeline.sweep_once(engine, source, clock, INGESTION)
    assert (idle.result.stored, idle.api_calls) == (0, 2)


def test_the_groups_answer_in_ok_itself_records_the_response_time(
    engine: Engine, fake: FakeOk, source: OkSource, clock: FakeClock
) -> None:
    post = fake.add_post(GID, "Пост")
    question = fake.add_comment(post, ANNA, "Куда жаловаться на управляющую компанию?")
    pipeline.sweep_once(engine, source, clock, INGESTION)
    answer = fake.add_group_answer(post, "Напишите нам в сообщения", reply_to=question)
    pipeline.sweep_once(engine, source, clock, INGESTION)
    row = incident_of(engine, question)
    assert row.status == IncidentStatus.ANSWERED
    assert row.first_response_by == "platform"
    assert row.first_response_at == parse_date(fake.comment(answer)["date"])
    assert incidents(engine) == 1  # the answer itself is not an incident


def test_a_queued_reply_is_posted_once_and_comes_back_without_a_new_incident(
    engine: Engine, fake: FakeOk, source: OkSource, clock: FakeClock
) -> None:
    post = fake.add_post(GID, "Пост")
    question = fake.add_comment(post, ANNA, "Где оставить жалобу на кафе?")
    pipeline.sweep_once(engine, source, clock, INGESTION)
    outbox_id = queue(engine, incident_of(engine, question).id, "Здравствуйте! 🙂", clock)
    fake.truncate_next("discussions.addDiscussionComment")  # the answer is lost on the way
    sources = {source.name: source}
    assert pipeline.send_one_reply(engine, sources, clock, ReplyPolicy("w1"))
    [made] = fake.created
    row = outbox_row(engine, outbox_id)
    assert (row.status, row.posted_external_id) == (OutboxStatus.POSTED, made["id"])
    assert incident_of(engine, question).first_response_by == "anna"
    pipeline.sweep_once(engine, source, clock, INGESTION)
    assert incidents(engine) == 1
    assert incident_of(engine, question).first_response_by == "anna"


def test_a_refused_reply_fails_with_the_manual_path_and_the_manual_answer_counts(
    engine: Engine, fake: FakeOk, source: OkSource, clock: FakeClock
) -> None:
    post = fake.add_post(GID, "Пост")
    question = fake.add_comment(post, ANNA, "Банк навязал страховку")
    pipeline.sweep_once(engine, source, clock, INGESTION)
    outbox_id = queue(engine, incident_of(engine, question).id, "Здравствуйте!", clock)
    fake.refuse_replies(10)
    pipeline.send_one_reply(engine, {source.name: source}, clock, ReplyPolicy("w"))
    row = outbox_row(engine, outbox_id)
    assert row.status == OutboxStatus.FAILED
    link = comment_link(GID, post, question, None)
    assert row.last_error == (
        f"Одноклассники не принимают ответ через API: ответьте вручную по ссылке {link}"
    )
    assert incident_of(engine, question).status == IncidentStatus.OPEN
    # a person follows the link and answers in OK as the group: the next sweep sees it
    fake.add_group_answer(post, "Здравствуйте!", reply_to=question)
    pipeline.sweep_once(engine, source, clock, INGESTION)
    answered = incident_of(engine, question)
    assert (answered.status, answered.first_response_by) == (IncidentStatus.ANSWERED, "platform")


def test_a_revoked_token_stops_the_source_with_a_plain_reason(
    engine: Engine, fake: FakeOk, source: OkSource, clock: FakeClock
) -> None:
    fake.revoke_token("tkn1ABCdef-administrator-permanent-token")
    outcome = pipeline.sweep_once(engine, source, clock, INGESTION)
    assert outcome.error is not None
    assert "access_token" in str(outcome.error)
