"""The source contract: what every platform's source promises, through the real pipeline steps
(``sweep_once``, ``listen_once``, ``send_one_reply``) into the database.

Each scenario runs per platform (``HARNESSES`` in conftest.py) and per database. A scenario
marked ``@requires(...)`` runs only where the platform has those ``Capabilities``. Nothing of
ours is mocked: the harness drives the platform's fake the way citizens, the community and a
faulty network would; a "crash" is a worker that stops between two of the pipeline's own steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, get_args

import pytest
from sqlalchemy import Engine, select

from incident import db, inbox, pipeline
from incident.inbox import calendar_hours
from incident.models import (
    IncidentStatus,
    OutboxStatus,
    OutgoingReply,
    ReplyKind,
    SourceState,
)
from incident.pipeline import Ingestion, ReplyPolicy, StepOutcome
from incident.sources.base import PermanentSourceError, Source, TransientSourceError
from tests.conftest import FakeClock
from tests.contract.conftest import HarnessFactory, requires
from tests.contract.harness import Fault, PlatformHarness

INGESTION = Ingestion(deadline=calendar_hours(8))
FAULTS: tuple[Fault, ...] = get_args(Fault)
STAFF = "anna"
QUESTION = "Магазин не вернул деньги за бракованный чайник, что делать?"


# ----- the worker's steps -----------------------------------------------------------------


def sweep(engine: Engine, source: Source, clock: FakeClock, **kw: Any) -> StepOutcome:
    return pipeline.sweep_once(engine, source, clock, INGESTION, **kw)


def listen(engine: Engine, source: Source, clock: FakeClock) -> StepOutcome:
    return pipeline.listen_once(engine, source, clock, INGESTION)


def catch_up(
    harness: PlatformHarness, engine: Engine, source: Source, clock: FakeClock
) -> StepOutcome:
    """What a worker does to take in everything new: a sweep where the platform has one, else
    one wait for pushed changes."""
    if harness.capabilities.sweep:
        return sweep(engine, source, clock)
    return listen(engine, source, clock)


@contextmanager
def listening(harness: PlatformHarness, engine: Engine, clock: FakeClock) -> Iterator[Source]:
    """A source whose live channel is set up (its first listen, with the catch-up it asks
    for, is done), so that what happens next arrives as pushed changes."""
    with harness.new_source() as source:
        started = listen(engine, source, clock)
        assert started.error is None, started.error
        yield source


# ----- what is in the database ------------------------------------------------------------


def comments(engine: Engine, harness: PlatformHarness) -> dict[str, Any]:
    """Every stored comment of the platform, by its external id."""
    c = db.comments.c
    with engine.connect() as conn:
        rows = conn.execute(select(db.comments).where(c.platform == harness.platform.value))
        return {r.external_id: r for r in rows}


def incidents(engine: Engine, harness: PlatformHarness) -> dict[str, Any]:
    """Every incident of the platform, by the external id of the comment that opened it."""
    c = db.comments.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(db.incidents, c.external_id)
            .join(db.comments, c.id == db.incidents.c.comment_id)
            .where(c.platform == harness.platform.value)
        )
        return {r.external_id: r for r in rows}


def state_of(engine: Engine, harness: PlatformHarness) -> Any:
    with engine.connect() as conn:
        return inbox.source_states(conn)[harness.source_name]


def queue_answer(engine: Engine, incident_id: int, text: str, clock: FakeClock) -> int:
    """A person presses "send" in the staff app; the reply waits in the outbox."""
    with engine.begin() as conn:
        return inbox.queue_reply(conn, incident_id, text, STAFF, clock(), kind=ReplyKind.ANSWER)


def outbox_row(engine: Engine, outbox_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(db.outbox).where(db.outbox.c.id == outbox_id)).one()


def populate(harness: PlatformHarness, posts: int, per_post: int) -> list[str]:
    """``posts`` posts with ``per_post`` citizens' comments each; the comments' ids."""
    written = []
    for p in range(posts):
        post = harness.publish_post(f"Пост {p}: приём граждан в пятницу")
        for n in range(per_post):
            text = f"Комментарий {p}-{n}: магазин не вернул деньги"
            written.append(harness.citizen_comment(post, text, author=1 + n % 3))
    return written


# ----- sweeps -----------------------------------------------------------------------------


@requires("sweep")
def test_the_first_sweep_stores_every_comment_once_and_opens_one_incident_per_citizen_comment(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    citizens = populate(harness, posts=2, per_post=3)
    post = harness.publish_post("Объявление")
    notice = harness.community_comment(post, "Приём переносится на понедельник")
    citizens.append(harness.citizen_comment(post, "А во сколько?", author=2))
    with harness.new_source() as source:
        first = sweep(engine, source, clock)
        again = sweep(engine, source, clock)
    assert first.error is None, first.error
    assert sorted(comments(engine, harness)) == sorted([*citizens, notice])
    assert sorted(incidents(engine, harness)) == sorted(citizens)
    assert (first.result.stored, first.result.incidents) == (len(citizens) + 1, len(citizens))
    assert (again.error, again.result.stored, again.result.incidents) == (None, 0, 0)


@requires("sweep")
def test_a_new_worker_stores_everything_written_while_no_worker_ran_and_nothing_twice(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    before = populate(harness, posts=2, per_post=2)
    with harness.new_source() as source:
        assert sweep(engine, source, clock).error is None
    # the worker is down: citizens go on writing, under old posts and new ones
    old_post = harness.publish_post("Пост до простоя")
    during = [harness.citizen_comment(old_post, "Написал, пока никто не читал", author=1)]
    during += populate(harness, posts=2, per_post=3)
    with harness.new_source() as restarted:
        caught = sweep(engine, restarted, clock)
    assert caught.error is None, caught.error
    assert (caught.result.stored, caught.result.duplicates) == (len(during), 0)
    assert sorted(comments(engine, harness)) == sorted(before + during)
    assert sorted(incidents(engine, harness)) == sorted(before + during)


@requires("sweep", "threads")
def test_replies_written_under_old_comments_while_no_worker_ran_are_caught_up(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    post = harness.publish_post("Пост")
    top = harness.citizen_comment(post, "Где вернуть товар?", author=1)
    with harness.new_source() as source:
        sweep(engine, source, clock)
    replies = [
        harness.citizen_comment(post, f"И у меня так же, случай {n}", author=2, reply_to=top)
        for n in range(3)
    ]
    with harness.new_source() as restarted:
        caught = sweep(engine, restarted, clock)
    assert caught.error is None, caught.error
    assert sorted(comments(engine, harness)) == sorted([top, *replies])
    assert {c.thread_root_id for c in comments(engine, harness).values()} == {None, top}


@requires("sweep")
def test_a_comment_deleted_before_any_sweep_saw_it_opens_no_incident(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    post = harness.publish_post("Пост")
    gone = harness.citizen_comment(post, "Передумал писать", author=1)
    kept = harness.citizen_comment(post, "Такси взяло двойную цену", author=2)
    harness.delete(gone)
    with harness.new_source() as source:
        assert sweep(engine, source, clock).error is None
    opened = incidents(engine, harness)
    assert opened[kept].status == IncidentStatus.OPEN
    assert gone not in opened or opened[gone].status != IncidentStatus.OPEN


@requires("sweep")
def test_a_crash_between_fetching_and_committing_leaves_each_comment_stored_once(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    written = populate(harness, posts=3, per_post=2)
    # worker A fetches a whole sweep and dies before committing any of it
    with harness.new_source() as a:
        with engine.connect() as conn:
            cursors = inbox.load_cursors(conn, harness.source_name)
        fetched = [c.external_id for batch in a.sweep(cursors) for c in batch.changes]
    assert sorted(fetched) == sorted(written)
    assert comments(engine, harness) == {}
    # worker B commits its first batch and dies; worker C sweeps after both
    with harness.new_source() as b:
        cut = sweep(engine, b, clock, should_stop=lambda: True)
    written += populate(harness, posts=1, per_post=2)
    with harness.new_source() as c:
        rest = sweep(engine, c, clock)
    assert (cut.error, rest.error) == (None, None)
    assert cut.result.stored + rest.result.stored == len(written)
    assert sorted(comments(engine, harness)) == sorted(written)
    assert sorted(incidents(engine, harness)) == sorted(written)


# ----- threads and follow-ups -------------------------------------------------------------


@requires("threads")
def test_a_citizens_reply_in_their_own_open_thread_joins_their_incident_and_anothers_opens_one(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    post = harness.publish_post("Пост")
    question = harness.citizen_comment(post, QUESTION, author=1)
    with harness.new_source() as source:
        catch_up(harness, engine, source, clock)
        follow_up = harness.citizen_comment(post, "Чек сохранился", author=1, reply_to=question)
        other = harness.citizen_comment(post, "У меня то же самое", author=2, reply_to=question)
        outcome = catch_up(harness, engine, source, clock)
    assert outcome.error is None, outcome.error
    assert (outcome.result.stored, outcome.result.follow_ups, outcome.result.incidents) == (2, 1, 1)
    assert sorted(comments(engine, harness)) == sorted([question, follow_up, other])
    opened = incidents(engine, harness)
    assert sorted(opened) == sorted([question, other])
    assert opened[question].status == opened[other].status == IncidentStatus.OPEN


@requires("threads")
def test_a_citizens_reply_after_their_incident_was_answered_opens_a_new_incident(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    post = harness.publish_post("Пост")
    question = harness.citizen_comment(post, QUESTION, author=1)
    harness.community_comment(post, "Напишите нам в сообщения", reply_to=question)
    with harness.new_source() as source:
        catch_up(harness, engine, source, clock)
        again = harness.citizen_comment(post, "Написал, не отвечают", author=1, reply_to=question)
        catch_up(harness, engine, source, clock)
    opened = incidents(engine, harness)
    assert sorted(opened) == sorted([question, again])
    assert opened[question].status == IncidentStatus.ANSWERED
    assert opened[again].status == IncidentStatus.OPEN


# ----- edits and deletions ----------------------------------------------------------------


def assert_edited(engine: Engine, harness: PlatformHarness, cid: str, old: str, new: str) -> None:
    row = comments(engine, harness)[cid]
    assert row.text == new
    assert [e["text"] for e in row.edits] == [old]
    assert incidents(engine, harness)[cid].status == IncidentStatus.OPEN


@requires("push", "edits_live")
def test_an_edit_arriving_live_replaces_the_stored_text_and_keeps_the_old_one(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    post = harness.publish_post("Пост")
    with listening(harness, engine, clock) as source:
        cid = harness.citizen_comment(post, "Купила куртку, брак", author=1)
        listen(engine, source, clock)
        harness.edit(cid, "Купила куртку, брак, в возврате отказали")
        edited = listen(engine, source, clock)
    assert (edited.error, edited.result.updated) == (None, 1)
    assert_edited(
        engine, harness, cid, "Купила куртку, брак", "Купила куртку, брак, в возврате отказали"
    )


@requires("sweep", "edits_in_sweep")
def test_an_edit_seen_by_a_sweep_replaces_the_stored_text_and_keeps_the_old_one(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    post = harness.publish_post("Пост")
    cid = harness.citizen_comment(post, "Купила куртку, брак", author=1)
    with harness.new_source() as source:
        sweep(engine, source, clock)
        harness.edit(cid, "Купила куртку, брак, в возврате отказали")
        edited = sweep(engine, source, clock, full=True)
    assert (edited.error, edited.result.updated) == (None, 1)
    assert_edited(
        engine, harness, cid, "Купила куртку, брак", "Купила куртку, брак, в возврате отказали"
    )


def assert_deleted(engine: Engine, harness: PlatformHarness, cid: str) -> None:
    assert comments(engine, harness)[cid].deleted
    incident = incidents(engine, harness)[cid]
    assert (incident.status, incident.closed_reason) == (IncidentStatus.CLOSED, "deleted")


@requires("push", "deletions_live")
def test_a_deletion_arriving_live_closes_the_comments_open_incident(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    post = harness.publish_post("Пост")
    with listening(harness, engine, clock) as source:
        cid = harness.citizen_comment(post, "Оскорбительный комментарий", author=3)
        listen(engine, source, clock)
        assert incidents(engine, harness)[cid].status == IncidentStatus.OPEN
        harness.delete(cid)
        deleted = listen(engine, source, clock)
    assert (deleted.error, deleted.result.updated) == (None, 1)
    assert_deleted(engine, harness, cid)


@requires("sweep", "deletions_in_sweep")
def test_a_deletion_seen_by_a_sweep_closes_the_comments_open_incident(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    post = harness.publish_post("Пост")
    cid = harness.citizen_comment(post, "Оскорбительный комментарий", author=3)
    with harness.new_source() as source:
        sweep(engine, source, clock)
        harness.delete(cid)
        deleted = sweep(engine, source, clock, full=True)
    assert (deleted.error, deleted.result.updated) == (None, 1)
    assert_deleted(engine, harness, cid)


@requires("sweep", "deletions_in_sweep", "restores")
def test_a_restore_seen_by_a_full_sweep_reopens_the_incident_its_deletion_closed(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    post = harness.publish_post("Пост")
    cid = harness.citizen_comment(post, "Магазин не вернул деньги", author=1)
    with harness.new_source() as source:
        sweep(engine, source, clock)
        harness.delete(cid)
        sweep(engine, source, clock, full=True)
        harness.restore(cid)
        restored = sweep(engine, source, clock, full=True)
    assert (restored.error, restored.result.updated) == (None, 1)
    assert not comments(engine, harness)[cid].deleted
    assert incidents(engine, harness)[cid].status == IncidentStatus.OPEN


@requires("sweep", "deletions_in_sweep", "restores")
def test_a_comment_restored_before_any_sweep_stored_it_is_stored_by_a_full_sweep(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    post = harness.publish_post("Пост")
    hidden = harness.citizen_comment(post, "Удалил и вернул", author=1)
    harness.delete(hidden)
    later = harness.citizen_comment(post, "Написал позже", author=2)
    with harness.new_source() as source:
        sweep(engine, source, clock)  # the cursor passes the deleted comment
        assert set(comments(engine, harness)) == {later}
        harness.restore(hidden)
        full = sweep(engine, source, clock, full=True)
    assert full.error is None
    assert set(comments(engine, harness)) == {hidden, later}
    assert incidents(engine, harness)[hidden].status == IncidentStatus.OPEN


@requires("sweep", "edits_in_sweep", "deletions_in_sweep")
def test_a_full_sweep_finds_what_an_ordinary_sweep_cannot_see(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    # A deletion and a new comment that leave the count unchanged, a reply deep in an old
    # thread, an edit: nothing an ordinary sweep's cheap checks notice.
    post = harness.publish_post("Пост")
    first = harness.citizen_comment(post, "Первый", author=1)
    doomed = harness.citizen_comment(post, "Будет удалён", author=2)
    with harness.new_source() as source:
        sweep(engine, source, clock)
        harness.delete(doomed)
        newcomer = harness.citizen_comment(post, "Новый вместо удалённого", author=3)
        harness.edit(first, "Первый, исправленный")
        full = sweep(engine, source, clock, full=True)
        again = sweep(engine, source, clock, full=True)
    assert full.error is None
    stored = comments(engine, harness)
    assert set(stored) == {first, doomed, newcomer}
    assert stored[doomed].deleted
    assert stored[first].text == "Первый, исправленный"
    assert not stored[newcomer].deleted
    assert (again.result.stored, again.result.updated) == (0, 0)  # nothing changes twice


# ----- live -------------------------------------------------------------------------------


@requires("push")
def test_a_comment_arrives_live_without_a_sweep_and_a_replayed_event_is_ignored(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    post = harness.publish_post("Пост")
    with listening(harness, engine, clock) as source:
        with engine.connect() as conn:
            before = inbox.load_cursors(conn, harness.source_name)
        cid = harness.citizen_comment(post, "Такси взяло двойную цену", author=1)
        live = listen(engine, source, clock)
        # the platform delivers the same events again (the stored position is set back)
        with engine.begin() as conn:
            inbox.save_cursors(conn, harness.source_name, before, clock())
        replayed = listen(engine, source, clock)
    assert (live.error, live.swept, live.result.stored) == (None, False, 1)
    assert (replayed.error, replayed.result.stored, replayed.result.updated) == (None, 0, 0)
    assert list(comments(engine, harness)) == [cid]
    assert incidents(engine, harness)[cid].status == IncidentStatus.OPEN


# ----- faults -----------------------------------------------------------------------------


@requires("sweep")
@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_that_happens_once_is_retried_and_the_sweep_stores_everything(
    harness: PlatformHarness, engine: Engine, clock: FakeClock, fault: Fault
) -> None:
    written = populate(harness, posts=2, per_post=2)
    harness.inject_fault(fault)
    with harness.new_source() as source:
        outcome = sweep(engine, source, clock)
    assert outcome.error is None, outcome.error
    assert sorted(comments(engine, harness)) == sorted(written)
    assert state_of(engine, harness).state == SourceState.OK


@requires("sweep")
@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_outlasting_the_retries_degrades_the_source_and_the_next_sweep_recovers(
    harness: PlatformHarness, engine: Engine, clock: FakeClock, fault: Fault
) -> None:
    written = populate(harness, posts=2, per_post=2)
    harness.inject_fault(fault, times=harness.retry_attempts)
    with harness.new_source() as source:
        failed = sweep(engine, source, clock)
        assert isinstance(failed.error, TransientSourceError)
        assert not failed.stopped
        assert state_of(engine, harness).state == SourceState.DEGRADED
        clock.advance(minutes=1)
        recovered = sweep(engine, source, clock)
    assert recovered.error is None, recovered.error
    assert sorted(comments(engine, harness)) == sorted(written)
    assert sorted(incidents(engine, harness)) == sorted(written)
    assert state_of(engine, harness).state == SourceState.OK


def test_broken_credentials_stop_that_source_with_a_plain_reason_and_not_another(
    harness: PlatformHarness, open_harness: HarnessFactory, engine: Engine, clock: FakeClock
) -> None:
    harness.citizen_comment(harness.publish_post("Пост"), QUESTION, author=1)
    harness.break_credentials()
    with open_harness() as neighbour:
        assert neighbour.source_name != harness.source_name
        healthy_comment = neighbour.citizen_comment(neighbour.publish_post("Пост"), QUESTION)
        with harness.new_source() as broken, neighbour.new_source() as healthy:
            bad = catch_up(harness, engine, broken, clock)
            good = catch_up(neighbour, engine, healthy, clock)
        assert good.error is None, good.error
        assert list(comments(engine, neighbour)) == [healthy_comment]
        assert state_of(engine, neighbour).state == SourceState.OK
    assert bad.stopped
    assert isinstance(bad.error, PermanentSourceError)
    stopped = state_of(engine, harness)
    assert stopped.state == SourceState.STOPPED
    reason = stopped.last_error
    assert reason
    assert reason.strip() == reason  # one plain line for a person, no traceback
    assert "\n" not in reason


# ----- replies and answers ----------------------------------------------------------------


def opened_question(
    harness: PlatformHarness, engine: Engine, source: Source, clock: FakeClock
) -> tuple[str, str, int]:
    """A citizen's question, taken in by the worker: (post id, comment id, incident id)."""
    post = harness.publish_post("Пост")
    question = harness.citizen_comment(post, QUESTION, author=1)
    catch_up(harness, engine, source, clock)
    return post, question, incidents(engine, harness)[question].id


@requires("replies_as_community")
def test_a_queued_reply_is_posted_under_the_comment_and_answers_its_incident(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    with harness.new_source() as source:
        post, question, incident_id = opened_question(harness, engine, source, clock)
        queue_answer(engine, incident_id, "Здравствуйте! Напишите нам в сообщения 🙂", clock)
        sources = {source.name: source}
        assert pipeline.send_one_reply(engine, sources, clock, ReplyPolicy("worker-a"))
        assert not pipeline.send_one_reply(engine, sources, clock, ReplyPolicy("worker-a"))
        # the reply comes back as the community's own comment: no new incident, same answerer
        catch_up(harness, engine, source, clock)
    [posted] = harness.posted()
    assert (posted.post_id, posted.reply_to_id) == (post, question)
    assert posted.text == "Здравствуйте! Напишите нам в сообщения 🙂"
    opened = incidents(engine, harness)
    assert list(opened) == [question]
    assert (opened[question].status, opened[question].first_response_by) == (
        IncidentStatus.ANSWERED,
        STAFF,
    )


@requires("replies_as_community")
def test_a_reply_is_posted_once_when_sent_twice_with_the_same_key(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    with harness.new_source() as source:
        _, _, incident_id = opened_question(harness, engine, source, clock)
        outbox_id = queue_answer(engine, incident_id, "Здравствуйте!", clock)
        # worker A claims the reply and the platform accepts it ...
        with engine.begin() as conn:
            claim = inbox.claim_reply(conn, "worker-a", clock(), timedelta(minutes=2))
        assert claim is not None
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
        # ... and worker A dies before recording it; after the lease, worker B sends it again
        clock.advance(minutes=3)
        assert pipeline.send_one_reply(engine, {source.name: source}, clock, ReplyPolicy("b"))
    [posted] = harness.posted()
    row = outbox_row(engine, outbox_id)
    assert (row.status, row.posted_external_id) == (OutboxStatus.POSTED, posted.external_id)


def test_the_communitys_own_answer_typed_in_the_platform_stops_the_clock(
    harness: PlatformHarness, engine: Engine, clock: FakeClock
) -> None:
    with harness.new_source() as source:
        post, question, _ = opened_question(harness, engine, source, clock)
        answer = harness.community_comment(post, "Напишите нам в сообщения", reply_to=question)
        outcome = catch_up(harness, engine, source, clock)
    assert (outcome.error, outcome.result.answered) == (None, 1)
    opened = incidents(engine, harness)
    assert list(opened) == [question]  # the answer itself is not an incident
    incident = opened[question]
    assert (incident.status, incident.first_response_by) == (IncidentStatus.ANSWERED, "platform")
    assert incident.first_response_at == comments(engine, harness)[answer].created_at
