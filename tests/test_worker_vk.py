"""The worker end to end: the fake VK server, the real vk_api client, the pipeline, the database.

Every test here runs on SQLite and on PostgreSQL. Nothing of ours is mocked: faults are injected
into the fake server's HTTP replies, and a "dying worker" is a worker that stops between two of
the pipeline's own steps.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from incident import db, inbox, pipeline
from incident.inbox import calendar_hours
from incident.models import IncidentStatus, OutboxStatus, SourceState
from incident.pipeline import Ingestion, ReplyPolicy
from incident.sources.base import PermanentSourceError
from incident.sources.fakes.vk_server import FakeVk
from incident.sources.vk import RetryPolicy, VkSource
from tests.conftest import FakeClock
from tests.world import VkGroup, VkSetup, VkToken, send_reply

GID = 42
OTHER_GID = 43
INGESTION = Ingestion(deadline=calendar_hours(8))
FAST_RETRY = RetryPolicy(attempts=4, initial=0.001, maximum=0.01)


@pytest.fixture
def vk_setup() -> VkSetup:
    return VkSetup(
        groups=tuple(VkGroup(gid, f"Комитет {gid}") for gid in (GID, OTHER_GID)),
        tokens=(
            *(VkToken(f"community-{gid}", "community", gid) for gid in (GID, OTHER_GID)),
            VkToken("service", "service"),
        ),
        users={1001: ("Анна", "Петрова"), 1002: ("Борис", "Смирнов"), 1003: ("Вера", "Иванова")},
    )


def source_for(fake_vk: FakeVk, gid: int = GID, **kw: Any) -> VkSource:
    values: dict[str, Any] = {
        "name": f"vk-{gid}",
        "group_id": gid,
        "community_token": f"community-{gid}",
        "sweep_token": "service",
        "session_factory": fake_vk.session,
        "throttle": False,
        "retry": FAST_RETRY,
        "longpoll_wait": 1,
        "rng": random.Random(1),
    }
    values.update(kw)
    return VkSource(**values)


@pytest.fixture
def source(fake_vk: FakeVk) -> Iterator[VkSource]:
    with source_for(fake_vk) as s:
        yield s


def stored_texts(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r.text for r in conn.execute(select(db.comments.c.text).order_by(db.comments.c.id))]


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        q = select(func.count()).select_from(table)
        for w in where:
            q = q.where(w)
        return int(conn.execute(q).scalar_one())


def incident_of(engine: Engine, external_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(db.incidents)
            .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
            .where(db.comments.c.external_id == str(external_id))
        ).one()


def populate(fake_vk: FakeVk, posts: int, per_post: int, gid: int = GID) -> list[str]:
    texts = []
    for p in range(posts):
        post = fake_vk.add_post(gid, f"Пост {p}")
        for c in range(per_post):
            text = f"Комментарий {p}-{c}: магазин не вернул деньги"
            fake_vk.add_comment(gid, post, 1001 + c % 3, text)
            texts.append(text)
    return texts


def test_catch_up_after_downtime_stores_everything_once(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    texts = populate(fake_vk, posts=3, per_post=120)  # more than one page per post
    first = pipeline.sweep_once(engine, source, clock, INGESTION)
    assert first.error is None
    assert sorted(stored_texts(engine)) == sorted(texts)
    assert first.result.incidents == 360
    # while the worker was down, more came in; the next sweep takes only those
    post = fake_vk.add_post(GID, "Новый пост")
    fake_vk.add_comment(GID, post, 1001, "Новый комментарий после простоя")
    second = pipeline.sweep_once(engine, source, clock, INGESTION)
    assert (second.result.stored, second.result.duplicates) == (1, 0)
    assert count(engine, db.comments) == 361


def test_a_sweep_with_nothing_new_costs_one_call_and_stores_nothing(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    populate(fake_vk, posts=5, per_post=10)
    pipeline.sweep_once(engine, source, clock, INGESTION)
    again = pipeline.sweep_once(engine, source, clock, INGESTION)
    assert again.api_calls == 1
    assert again.result.stored == 0


def test_thread_replies_beyond_the_inlined_ten_are_all_stored(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    top = fake_vk.add_comment(GID, post, 1001, "Где вернуть товар?")
    replies = [
        fake_vk.add_comment(GID, post, 1002, f"ответ {i}", reply_to_comment=top) for i in range(25)
    ]
    pipeline.sweep_once(engine, source, clock, INGESTION)
    # later replies inside the same thread
    more = [
        fake_vk.add_comment(GID, post, 1003, f"ещё {i}", reply_to_comment=top) for i in range(3)
    ]
    pipeline.sweep_once(engine, source, clock, INGESTION)
    assert count(engine, db.comments) == 1 + len(replies) + len(more)
    with engine.connect() as conn:
        roots = {r.thread_root_id for r in conn.execute(select(db.comments.c.thread_root_id))}
    assert roots == {None, str(top)}


def test_live_events_arrive_without_a_sweep_and_replays_are_ignored(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    start = pipeline.listen_once(engine, source, clock, INGESTION)  # first call: takes ts, sweeps
    assert start.error is None
    cid = fake_vk.add_comment(GID, post, 1001, "Такси взяло двойную цену")
    live = pipeline.listen_once(engine, source, clock, INGESTION)
    assert live.result.stored == 1
    assert incident_of(engine, cid).status == IncidentStatus.OPEN
    swept = pipeline.sweep_once(engine, source, clock, INGESTION)
    assert (swept.result.stored, swept.result.duplicates) == (0, 1)


def test_edits_and_deletes_arrive_live_and_keep_history(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    pipeline.listen_once(engine, source, clock, INGESTION)
    cid = fake_vk.add_comment(GID, post, 1001, "Купила куртку, брак")
    pipeline.listen_once(engine, source, clock, INGESTION)
    fake_vk.edit_comment(GID, cid, "Купила куртку, брак, магазин отказал в возврате")
    pipeline.listen_once(engine, source, clock, INGESTION)
    with engine.connect() as conn:
        row = conn.execute(select(db.comments.c.text, db.comments.c.edits)).one()
    assert row.text == "Купила куртку, брак, магазин отказал в возврате"
    assert [e["text"] for e in row.edits] == ["Купила куртку, брак"]
    fake_vk.delete_comment(GID, cid)
    pipeline.listen_once(engine, source, clock, INGESTION)
    assert incident_of(engine, cid).status == IncidentStatus.CLOSED
    fake_vk.restore_comment(GID, cid)
    pipeline.listen_once(engine, source, clock, INGESTION)
    assert incident_of(engine, cid).status == IncidentStatus.OPEN


@pytest.mark.parametrize("failed", [1, 2, 3])
def test_long_poll_failures_lose_no_comment(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock, failed: int
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    pipeline.listen_once(engine, source, clock, INGESTION)
    cid = fake_vk.add_comment(GID, post, 1001, "Комментарий во время сбоя long poll")
    fake_vk.longpoll_fail_next(failed)  # type: ignore[arg-type]
    for _ in range(3):
        pipeline.listen_once(engine, source, clock, INGESTION)
    assert incident_of(engine, cid).status == IncidentStatus.OPEN
    assert count(engine, db.comments) == 1


def test_the_communitys_own_reply_on_vk_is_recorded_as_the_answer(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    question = fake_vk.add_comment(GID, post, 1001, "Куда жаловаться на управляющую компанию?")
    pipeline.sweep_once(engine, source, clock, INGESTION)
    answer = fake_vk.add_comment(
        GID, post, -GID, "Напишите нам в сообщения", reply_to_comment=question
    )
    pipeline.sweep_once(engine, source, clock, INGESTION)
    row = incident_of(engine, question)
    assert row.status == IncidentStatus.ANSWERED
    assert row.first_response_by == "platform"
    assert row.first_response_at == fake_date(fake_vk, answer)
    assert count(engine, db.incidents) == 1  # the answer itself is not an incident


def fake_date(fake_vk: FakeVk, cid: int) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(fake_vk.comment(GID, cid)["date"], UTC)


FAULTS = [
    ("error 6 too many requests", lambda f, m: f.fail_next(m, 6, times=2)),
    ("error 9 flood control", lambda f, m: f.fail_next(m, 9)),
    ("error 29 rate limit", lambda f, m: f.fail_next(m, 29)),
    ("error 10 internal", lambda f, m: f.fail_next(m, 10, times=2)),
    ("http 502", lambda f, m: f.http_error_next(m, 502, times=2)),
    ("http 503", lambda f, m: f.http_error_next(m, 503)),
    ("truncated json", lambda f, m: f.truncate_next(m, times=2)),
]


@pytest.mark.parametrize("method", ["wall.get", "wall.getComments"])
@pytest.mark.parametrize(("fault", "inject"), FAULTS, ids=[f[0] for f in FAULTS])
def test_transient_faults_are_retried_and_nothing_is_lost(
    engine: Engine,
    fake_vk: FakeVk,
    source: VkSource,
    clock: FakeClock,
    fault: str,
    inject: Any,
    method: str,
) -> None:
    texts = populate(fake_vk, posts=2, per_post=5)
    inject(fake_vk, method)
    outcome = pipeline.sweep_once(engine, source, clock, INGESTION)
    assert outcome.error is None, fault
    assert sorted(stored_texts(engine)) == sorted(texts)


def test_a_fault_outlasting_the_retries_degrades_the_source_and_the_next_run_recovers(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    texts = populate(fake_vk, posts=2, per_post=5)
    fake_vk.http_error_next("wall.getComments", 500, times=FAST_RETRY.attempts)
    failed = pipeline.sweep_once(engine, source, clock, INGESTION)
    assert failed.error is not None
    assert not failed.stopped
    with engine.connect() as conn:
        assert inbox.source_states(conn)["vk-42"].state == SourceState.DEGRADED
    recovered = pipeline.sweep_once(engine, source, clock, INGESTION)
    assert recovered.error is None
    assert sorted(stored_texts(engine)) == sorted(texts)
    with engine.connect() as conn:
        assert inbox.source_states(conn)["vk-42"].state == SourceState.OK


@pytest.mark.parametrize(("code", "what"), [(5, "authorization"), (27, "group"), (14, "captcha")])
def test_a_broken_token_or_captcha_stops_that_source_but_not_the_others(
    engine: Engine, fake_vk: FakeVk, clock: FakeClock, code: int, what: str
) -> None:
    populate(fake_vk, posts=1, per_post=3, gid=GID)
    populate(fake_vk, posts=1, per_post=4, gid=OTHER_GID)
    fake_vk.fail_next("wall.get", code)
    with source_for(fake_vk, GID) as broken, source_for(fake_vk, OTHER_GID) as healthy:
        bad = pipeline.sweep_once(engine, broken, clock, INGESTION)
        good = pipeline.sweep_once(engine, healthy, clock, INGESTION)
    assert bad.stopped
    assert isinstance(bad.error, PermanentSourceError)
    assert good.error is None
    assert good.result.stored == 4
    with engine.connect() as conn:
        states = inbox.source_states(conn)
    assert states["vk-42"].state == SourceState.STOPPED
    assert states["vk-43"].state == SourceState.OK
    assert str(code) in states["vk-42"].last_error or what in states["vk-42"].last_error.lower()


def queue(engine: Engine, incident_id: int, text: str, clock: FakeClock) -> int:
    with engine.begin() as conn:
        return send_reply(conn, incident_id, text, "anna", clock())


def test_a_queued_reply_is_posted_as_the_community_under_the_comment(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    question = fake_vk.add_comment(GID, post, 1001, "Где оставить жалобу на кафе?")
    pipeline.sweep_once(engine, source, clock, INGESTION)
    incident = incident_of(engine, question)
    queue(engine, incident.id, "Здравствуйте! Напишите нам в сообщения 🙂", clock)
    policy = ReplyPolicy(worker_id="w1")
    assert pipeline.send_one_reply(engine, {source.name: source}, clock, policy)
    assert not pipeline.send_one_reply(engine, {source.name: source}, clock, policy)
    assert len(fake_vk.created) == 1
    posted = fake_vk.created[0]
    assert posted["from_id"] == -GID
    assert posted["text"] == "Здравствуйте! Напишите нам в сообщения 🙂"
    assert posted["reply_to_comment"] == question
    row = incident_of(engine, question)
    assert (row.status, row.first_response_by) == (IncidentStatus.ANSWERED, "anna")
    # the reply comes back through the sweep as the community's comment: no new incident
    pipeline.sweep_once(engine, source, clock, INGESTION)
    assert count(engine, db.incidents) == 1
    assert incident_of(engine, question).first_response_by == "anna"


def test_a_reply_is_posted_once_when_the_worker_dies_between_sending_and_recording(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    question = fake_vk.add_comment(GID, post, 1001, "Банк навязал страховку")
    pipeline.sweep_once(engine, source, clock, INGESTION)
    outbox_id = queue(engine, incident_of(engine, question).id, "Здравствуйте!", clock)
    lease = timedelta(minutes=2)
    # worker A claims the reply and the platform accepts it ...
    with engine.begin() as conn:
        claim = inbox.claim_reply(conn, "worker-a", clock(), lease)
    assert claim is not None
    from incident.models import OutgoingReply

    source.post_reply(
        OutgoingReply(
            claim.outbox_id,
            claim.idempotency_key,
            claim.community,
            claim.post_id,
            claim.reply_to_id,
            claim.text,
        )
    )
    # ... and worker A dies before recording it. After the lease, worker B takes over.
    clock.advance(minutes=3)
    assert pipeline.send_one_reply(engine, {source.name: source}, clock, ReplyPolicy("worker-b"))
    assert len(fake_vk.created) == 1
    with engine.connect() as conn:
        row = conn.execute(select(db.outbox).where(db.outbox.c.id == outbox_id)).one()
    assert row.status == OutboxStatus.POSTED
    assert row.posted_external_id == str(fake_vk.created[0]["id"])


def test_a_reply_refused_by_vk_is_marked_failed_with_the_reason(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    question = fake_vk.add_comment(GID, post, 1001, "Вопрос")
    pipeline.sweep_once(engine, source, clock, INGESTION)
    outbox_id = queue(engine, incident_of(engine, question).id, "Ответ", clock)
    fake_vk.delete_comment(GID, question)
    fake_vk.fail_next("wall.createComment", 15)
    pipeline.send_one_reply(engine, {source.name: source}, clock, ReplyPolicy("w"))
    with engine.connect() as conn:
        row = conn.execute(select(db.outbox).where(db.outbox.c.id == outbox_id)).one()
    assert row.status == OutboxStatus.FAILED
    assert "15" in row.last_error
    assert fake_vk.created == []


def test_a_reply_hitting_a_transient_fault_is_retried_later_and_posted_once(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    question = fake_vk.add_comment(GID, post, 1001, "Вопрос")
    pipeline.sweep_once(engine, source, clock, INGESTION)
    outbox_id = queue(engine, incident_of(engine, question).id, "Ответ", clock)
    fake_vk.http_error_next("wall.createComment", 502, times=FAST_RETRY.attempts)
    sources = {source.name: source}
    assert pipeline.send_one_reply(engine, sources, clock, ReplyPolicy("w"))
    with engine.connect() as conn:
        row = conn.execute(select(db.outbox).where(db.outbox.c.id == outbox_id)).one()
    assert row.status == OutboxStatus.PENDING
    assert row.next_attempt_at > clock()
    assert not pipeline.send_one_reply(engine, sources, clock, ReplyPolicy("w"))  # not due yet
    clock.advance(hours=1)
    assert pipeline.send_one_reply(engine, sources, clock, ReplyPolicy("w"))
    assert len(fake_vk.created) == 1


@pytest.mark.parametrize(("cap_hours", "on_time"), [(24.0, False), (None, True)])
def test_answer_times_in_working_hours_are_stored_with_the_first_answer(
    engine: Engine,
    fake_vk: FakeVk,
    source: VkSource,
    clock: FakeClock,
    cap_hours: float | None,
    on_time: bool,
) -> None:
    """A comment on Friday at 20:00, answered on Monday at 09:30, took 30 working minutes.
    With the default 24-hour calendar cap it was still due on Saturday at 20:00 (late); with
    no cap only the 8 working hours count (on time)."""
    from datetime import UTC, datetime

    from incident.sla import SlaPolicy, SlaSettings
    from incident.wiring import answer_figures, working_hours_policy

    settings = SlaSettings(default_policy=SlaPolicy(cap_hours=cap_hours))
    ingestion = Ingestion(deadline=working_hours_policy(settings), figures=answer_figures(settings))
    friday_evening = int(datetime(2026, 11, 20, 17, 0, tzinfo=UTC).timestamp())  # 20:00 MSK
    monday_morning = int(datetime(2026, 11, 23, 6, 30, tzinfo=UTC).timestamp())  # 09:30 MSK
    post = fake_vk.add_post(GID, "Пост", date=friday_evening - 3600)
    question = fake_vk.add_comment(GID, post, 1001, "Вопрос в пятницу вечером", date=friday_evening)
    fake_vk.add_comment(
        GID, post, -GID, "Ответ в понедельник", date=monday_morning, reply_to_comment=question
    )
    pipeline.sweep_once(engine, source, clock, ingestion)
    row = incident_of(engine, question)
    assert row.response_seconds == (monday_morning - friday_evening)
    assert row.response_working_seconds == 30 * 60  # only Monday 09:00-09:30 counts
    assert row.on_time is on_time


def test_an_author_name_lookup_failing_with_error_5_stores_the_comment_and_names_it_later(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    pipeline.listen_once(engine, source, clock, INGESTION)  # first round: start from now
    post = fake_vk.add_post(GID, "Пост")
    fake_vk.add_comment(GID, post, 1001, "Магазин не вернул деньги")
    fake_vk.fail_next("users.get", 5)
    first = pipeline.listen_once(engine, source, clock, INGESTION)
    assert first.error is None
    assert first.result.stored == 1
    fake_vk.add_comment(GID, post, 1002, "И мне не вернули")
    second = pipeline.listen_once(engine, source, clock, INGESTION)
    assert second.error is None
    with engine.connect() as conn:
        names = conn.execute(
            select(db.comments.c.text, db.comments.c.author_name).order_by(db.comments.c.id)
        ).all()
        state = inbox.source_states(conn)["vk-42"].state
    assert [tuple(r) for r in names] == [
        ("Магазин не вернул деньги", "Анна Петрова"),
        ("И мне не вернули", "Борис Смирнов"),
    ]
    assert state == SourceState.OK
