"""What a live listener's round costs the database, and the committer many listeners share.

With hundreds of communities, each listener round used to take four connections (the lease,
the cursors, the batch, the status); threads queued for the pool and the lag grew to tens of
seconds. A round now costs one transaction, shared by every listener whose batch is waiting
(``pipeline.GroupCommitter``), and a worker's heartbeat renews all its leases in one statement.
Every test runs on SQLite and PostgreSQL against the fake VK server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from incident import db, inbox, pipeline
from incident.inbox import Classification, calendar_hours
from incident.models import Batch, ChangeKind, Comment, CommentChange, Platform, SourceState
from incident.pipeline import GroupCommitter, Ingestion
from incident.sources.fakes.vk_server import FakeVk
from incident.sources.vk import VkSource
from tests.conftest import FakeClock
from tests.test_worker_vk import GID, OTHER_GID, source_for, vk_setup  # noqa: F401

INGESTION = Ingestion(deadline=calendar_hours(8))


class Checkouts:
    """Counts the connections the engine hands out (each is a pool checkout and, with
    ``pool_pre_ping``, a round trip of its own on PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self.engine = engine
        event.listen(engine, "checkout", self._seen)

    def _seen(self, *args: Any) -> None:
        self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "checkout", self._seen)


@pytest.fixture
def source(fake_vk: FakeVk) -> Iterator[VkSource]:
    with source_for(fake_vk) as s:
        yield s


def stored(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(db.comments.c.text).order_by(db.comments.c.id)).scalars())


def test_a_live_round_given_its_cursors_costs_one_connection(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    first = pipeline.listen_once(engine, source, clock, INGESTION)  # takes ts, sweeps
    assert first.error is None
    cursors = pipeline.listen_once(engine, source, clock, INGESTION).cursors
    assert cursors is not None  # a round that succeeded hands its cursors on
    fake_vk.add_comment(GID, post, 1001, "Магазин не вернул деньги за брак")
    checkouts = Checkouts(engine)
    try:
        live = pipeline.listen_once(engine, source, clock, INGESTION, cursors=cursors)
    finally:
        checkouts.close()
    assert (live.error, live.result.stored) == (None, 1)
    assert checkouts.count == 1  # the batch, its cursors and the source's status together
    with engine.connect() as conn:
        status = inbox.source_states(conn)[source.name]
        assert status.state == SourceState.OK.value
        assert inbox.load_cursors(conn, source.name) == live.cursors


def test_a_round_that_failed_hands_on_no_cursors(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    pipeline.listen_once(engine, source, clock, INGESTION)
    fake_vk.fail_next("groups.getLongPollServer", 10, times=20)
    fake_vk.longpoll_fail_next(3)
    failed = pipeline.listen_once(engine, source, clock, INGESTION)
    assert failed.error is not None
    assert failed.cursors is None  # the next round reads them from the database again


def test_a_round_cut_short_by_the_worker_stopping_is_no_fault_of_the_source(
    engine: Engine, fake_vk: FakeVk, source: VkSource, clock: FakeClock
) -> None:
    # a clean stop (systemd restarting the service) must not log crashes nor mark sources
    first = pipeline.listen_once(engine, source, clock, INGESTION)
    assert first.error is None
    post = fake_vk.add_post(GID, "Пост")
    fake_vk.add_comment(GID, post, 1001, "Магазин не вернул деньги за брак")
    committer = GroupCommitter(engine, INGESTION, clock)
    committer.stop()
    cut = pipeline.listen_once(engine, source, clock, INGESTION, committer=committer)
    assert (cut.error, cut.result.stored, cut.cursors) == (None, 0, None)
    with engine.connect() as conn:
        assert inbox.source_states(conn)[source.name].state == SourceState.OK.value
    assert pipeline.listen_once(engine, source, clock, INGESTION).result.stored == 1  # read again


def comment_change(n: int, community: str = str(GID)) -> CommentChange:
    comment = Comment(
        platform=Platform.VK,
        community=community,
        post_id="1",
        external_id=str(n),
        author_id=str(1000 + n),
        text=f"Жалоба номер {n}: магазин не вернул деньги",
        created_at=FakeClock().now,
    )
    return CommentChange(
        kind=ChangeKind.NEW,
        platform=Platform.VK,
        community=community,
        external_id=str(n),
        post_id="1",
        comment=comment,
        event_id=f"event-{community}-{n}",
    )


def refusing(bad_text: str) -> Any:
    """A classifier that fails on one text, as a bug in one comment's handling would."""

    def classify(comment: Comment, history: Sequence[str]) -> Classification:
        if comment.text == bad_text:
            raise ValueError("cannot classify this one")
        return inbox.no_classification(comment, history)

    return classify


def test_the_committer_commits_many_listeners_batches_and_a_bad_one_fails_alone(
    engine: Engine, fake_vk: FakeVk, clock: FakeClock
) -> None:
    bad = comment_change(2, str(OTHER_GID))
    assert bad.comment is not None
    ingestion = Ingestion(deadline=calendar_hours(8), classify=refusing(bad.comment.text))
    committer = GroupCommitter(engine, ingestion, clock)
    with source_for(fake_vk, GID) as one, source_for(fake_vk, OTHER_GID) as other:
        group = [
            (one, Batch(changes=(comment_change(1),), cursors={"lp": "1"}), Future()),
            (other, Batch(changes=(bad,), cursors={"lp": "7"}), Future()),
            (one, Batch(changes=(comment_change(3),), cursors={"lp": "2"}), Future()),
        ]
        committer.commit_group(group)
        assert group[0][2].result().stored == 1
        with pytest.raises(ValueError, match="cannot classify"):
            group[1][2].result()
        assert group[2][2].result().stored == 1
        assert stored(engine) == [
            "Жалоба номер 1: магазин не вернул деньги",
            "Жалоба номер 3: магазин не вернул деньги",
        ]
        with engine.connect() as conn:
            assert inbox.load_cursors(conn, one.name) == {"lp": "2"}
            assert inbox.load_cursors(conn, other.name) == {}  # its batch left nothing behind


def test_listeners_waiting_on_the_committers_threads_get_their_own_results_and_all_stop(
    engine: Engine, fake_vk: FakeVk, clock: FakeClock
) -> None:
    committer = GroupCommitter(engine, INGESTION, clock, threads=3)
    runners = [threading.Thread(target=committer.run) for _ in range(committer.threads)]
    for runner in runners:
        runner.start()
    results: dict[int, int] = {}
    try:
        with source_for(fake_vk, GID) as one, source_for(fake_vk, OTHER_GID) as other:

            def listener(n: int) -> None:
                source = one if n % 2 else other
                change = comment_change(n, source.name.removeprefix("vk-"))
                batch = Batch(changes=(change,), cursors={"lp": str(n)})
                results[n] = committer.commit(source, batch, timeout=30).stored

            threads = [threading.Thread(target=listener, args=(n,)) for n in range(1, 9)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
    finally:
        committer.stop()
        for runner in runners:
            runner.join(10)
    assert results == {n: 1 for n in range(1, 9)}
    assert len(stored(engine)) == 8
    assert not any(runner.is_alive() for runner in runners)  # every thread heard the stop
    with pytest.raises(RuntimeError, match="stopped"):
        committer.commit(one, Batch(), timeout=1)


def test_one_statement_renews_every_lease_and_takes_only_free_or_expired_ones(
    engine: Engine, clock: FakeClock
) -> None:
    ttl = timedelta(seconds=30)
    with engine.begin() as conn:
        assert inbox.take_source_lease(conn, "busy", "other", clock.now, ttl)
        assert inbox.take_source_lease(conn, "stale", "dead", clock.now - 2 * ttl, ttl)
        assert inbox.take_source_lease(conn, "mine", "me", clock.now, ttl)
    with engine.begin() as conn:
        held = inbox.take_source_leases(
            conn, ["mine", "busy", "stale", "new", "mine"], "me", clock.now, ttl
        )
    assert held == {"mine", "stale", "new"}
    with engine.connect() as conn:
        owners = dict(
            conn.execute(select(db.source_leases.c.source, db.source_leases.c.owner)).all()
        )
    assert owners == {"busy": "other", "stale": "me", "mine": "me", "new": "me"}
