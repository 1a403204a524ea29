"""The worker unattended: crashes, a lost database and a dead part of the worker itself.

Real workers against the fake VK server and a real database; a crashed worker is the state it
leaves behind (its lease row, owned by a process that no longer exists), and a database outage
is PostgreSQL refusing connections for a few seconds.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from incident import db, inbox
from incident.config import WorkerConfig
from incident.daemon import Worker, WorkerDied, dead_local_worker
from incident.db import make_engine
from incident.inbox import calendar_hours
from incident.models import Batch, Platform, PostedReply
from incident.pipeline import Ingestion
from incident.sources.fakes.vk_server import FakeVk
from incident.sources.vk import RetryPolicy, VkSource
from tests.conftest import PG_ADMIN_URL, empty_postgres
from tests.test_process import GID, stored_ids, wait_for
from tests.world import add_incident, send_reply

INGESTION = Ingestion(deadline=calendar_hours(8))


def vk_source(fake_vk: FakeVk, **kw: Any) -> VkSource:
    values: dict[str, Any] = {
        "name": "vk-test",
        "group_id": GID,
        "community_token": "community-token",
        "sweep_token": "service-token",
        "session_factory": fake_vk.session,
        "throttle": False,
        "longpoll_wait": 1,
        "retry": RetryPolicy(attempts=2, initial=0.01, maximum=0.05),
    }
    values.update(kw)
    return VkSource(**values)


def dead_pid() -> int:
    """The id of a process that has just ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def put_lease(engine: Engine, owner: str, until: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(db.source_leases).values(
                source="vk-test", owner=owner, lease_until=until, updated_at=until
            )
        )


def lease_owner(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(db.source_leases.c.owner)).scalar()


def sweeps(fake_vk: FakeVk) -> int:
    return sum(1 for method, _ in fake_vk.calls if method == "wall.get")


def test_a_worker_of_this_host_is_dead_when_its_process_is_gone_or_its_pid_is_ours() -> None:
    host = "server-1"

    def alive(pid: int) -> bool:
        return pid == 300

    assert dead_local_worker("server-1-200-0123abcd", host=host, own_pid=1, alive=alive)
    assert not dead_local_worker("server-1-300-0123abcd", host=host, own_pid=1, alive=alive)
    # pid 1 again after a container restart: the same pid as ours, another id
    assert dead_local_worker("server-1-1-0123abcd", host=host, own_pid=1, alive=alive)
    # another host's worker, or an id we cannot read, is never called dead
    assert not dead_local_worker("server-2-200-0123abcd", host=host, own_pid=1, alive=alive)
    assert not dead_local_worker("server-1-0123abcd", host=host, own_pid=1, alive=alive)
    # a dead worker's second and third reply senders are dead with it
    assert dead_local_worker("server-1-200-0123abcd-s2", host=host, own_pid=1, alive=alive)
    assert not dead_local_worker("server-1-300-0123abcd-s2", host=host, own_pid=1, alive=alive)


def test_a_restarted_worker_frees_its_dead_predecessors_lease_and_polls_at_once(
    engine: Engine, fake_vk: FakeVk
) -> None:
    # What a SIGKILL leaves: a lease of ten more minutes owned by a process that is gone.
    dead = f"{socket.gethostname()}-{dead_pid()}-0123abcd"
    put_lease(engine, dead, datetime.now(UTC) + timedelta(minutes=10))
    post = fake_vk.add_post(GID, "Пост")
    during = fake_vk.add_comment(GID, post, 1001, "Пока воркер лежал")
    source = vk_source(fake_vk)
    worker = Worker(
        engine,
        [source],
        WorkerConfig(sweep_interval=3600, outbox_interval=3600),
        INGESTION,
        listeners=["vk-test"],
    )
    started = time.monotonic()
    worker.start()
    try:
        assert wait_for(lambda: str(during) in stored_ids(engine), 10)
        assert time.monotonic() - started < 10
        assert lease_owner(engine) == worker.worker_id
    finally:
        worker.stop(timeout=5)
        source.close()


def test_the_worker_groups_repeats_within_seconds_of_their_arrival(
    engine: Engine, fake_vk: FakeVk
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    copy = "Купил в магазине протухшее молоко, верните деньги!"
    first = fake_vk.add_comment(GID, post, 1001, copy)
    source = vk_source(fake_vk)
    worker = Worker(
        engine, [source], WorkerConfig(sweep_interval=3600, outbox_interval=3600), INGESTION
    )
    worker.start()
    try:
        assert wait_for(lambda: str(first) in stored_ids(engine), 10)
        again = fake_vk.add_comment(GID, post, 1002, copy)
        worker.sweep("vk-test")
        assert str(again) in stored_ids(engine)

        def grouped() -> bool:
            with engine.connect() as conn:
                links = conn.execute(select(db.incidents.c.repeat_of)).scalars().all()
            return len(links) == 2 and links.count(None) == 1

        assert wait_for(grouped, 10)  # the repeat step runs every few seconds
        assert worker.parts["repeats"].get("error") is None
    finally:
        worker.stop(timeout=5)
        source.close()


def test_another_worker_takes_over_when_the_holders_lease_runs_out(
    engine: Engine, fake_vk: FakeVk
) -> None:
    # A worker on another host died holding the source: nobody renews its lease any more.
    put_lease(engine, "elsewhere-4242-0123abcd", datetime.now(UTC) + timedelta(seconds=1.5))
    post = fake_vk.add_post(GID, "Пост")
    source = vk_source(fake_vk)
    worker = Worker(
        engine,
        [source],
        WorkerConfig(sweep_interval=3600, outbox_interval=3600),  # no scheduled sweep soon
        INGESTION,
        lease_ttl=2.0,
        heartbeat_interval=0.2,
    )
    worker.start()
    try:
        time.sleep(0.5)
        assert sweeps(fake_vk) == 0  # the lease is still the other worker's
        later = fake_vk.add_comment(GID, post, 1001, "После смерти первого")
        assert wait_for(lambda: str(later) in stored_ids(engine), 10)  # heartbeat took it over
        assert lease_owner(engine) == worker.worker_id
    finally:
        worker.stop(timeout=5)
        source.close()


def test_the_heartbeat_keeps_a_lease_alive_between_sweeps(engine: Engine, fake_vk: FakeVk) -> None:
    source = vk_source(fake_vk)
    worker = Worker(
        engine,
        [source],
        WorkerConfig(sweep_interval=3600, outbox_interval=3600),
        INGESTION,
        lease_ttl=1.0,
        heartbeat_interval=0.2,
    )
    worker.start()
    try:
        assert wait_for(lambda: sweeps(fake_vk) == 1)
        time.sleep(2.0)  # twice the lease's life, no sweep in between
        with engine.connect() as conn:
            lease = conn.execute(select(db.source_leases)).one()
        assert lease.owner == worker.worker_id
        assert lease.lease_until > datetime.now(UTC)
    finally:
        worker.stop(timeout=5)
        source.close()


# --- a database outage ---------------------------------------------------------------------


@pytest.fixture
def pg_engine(pg_database: str) -> Iterator[Engine]:
    eng = make_engine(pg_database)
    empty_postgres(eng)
    try:
        yield eng
    finally:
        eng.dispose()


def cut_database(url: str, seconds: float) -> threading.Thread:
    """PostgreSQL refuses ``url``'s database for ``seconds``: new connections are refused and
    open ones are terminated, as when the server restarts or the network drops."""
    name = make_url(url).database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )

    def restore() -> None:
        time.sleep(seconds)
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()

    thread = threading.Thread(target=restore)
    thread.start()
    return thread


def comment_rows(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(select(db.comments)).all()
    return {r.external_id: r for r in rows}


def test_a_database_outage_kills_no_thread_and_intake_catches_up_when_it_returns(
    pg_engine: Engine, pg_database: str, fake_vk: FakeVk
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    edited = fake_vk.add_comment(GID, post, 1001, "Было")
    deleted = fake_vk.add_comment(GID, post, 1002, "Будет удалён")
    source = vk_source(fake_vk)
    worker = Worker(
        pg_engine,
        [source],
        WorkerConfig(sweep_interval=3600, outbox_interval=0.2),
        INGESTION,
        listeners=["vk-test"],
        heartbeat_interval=0.5,
    )
    worker.start()
    try:
        assert wait_for(lambda: {str(edited), str(deleted)} <= set(stored_ids(pg_engine)))
        restore = cut_database(pg_database, 4.0)
        during = fake_vk.add_comment(GID, post, 1003, "Пришёл, пока базы не было")
        fake_vk.edit_comment(GID, edited, "Стало")
        fake_vk.delete_comment(GID, deleted)
        time.sleep(2.0)
        assert worker.problem() is None  # nothing died while the database was away
        restore.join()

        def caught_up() -> bool:
            rows = comment_rows(pg_engine)
            return (
                str(during) in rows
                and rows[str(edited)].text == "Стало"
                and bool(rows[str(deleted)].deleted)
            )

        assert wait_for(caught_up, 15)
        after = fake_vk.add_comment(GID, post, 1001, "Уже после")
        assert wait_for(lambda: str(after) in stored_ids(pg_engine), 10)  # live again
        assert worker.problem() is None
        assert all(t.is_alive() for t in worker._threads)
    finally:
        worker.stop(timeout=5)
        source.close()


# --- replies posted by several senders ------------------------------------------------------


class SlowPlatform:
    """A platform that takes its time over each reply and counts the replies in flight."""

    name = "vk-42"  # the source tests.world's incidents come from
    platform = Platform.VK

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight = 0
        self.most_at_once = 0
        self.posted: list[int] = []

    def sweep(self, cursors: Mapping[str, str], *, full: bool = False) -> Iterator[Batch]:
        yield Batch()

    def listen_once(self, cursors: Mapping[str, str]) -> Batch:
        return Batch()

    def post_reply(self, reply: Any) -> PostedReply:
        with self._lock:
            self.in_flight += 1
            self.most_at_once = max(self.most_at_once, self.in_flight)
        time.sleep(0.3)
        with self._lock:
            self.in_flight -= 1
            self.posted.append(reply.outbox_id)
        return PostedReply(f"reply-{reply.outbox_id}")

    def close(self) -> None:
        pass


def test_three_senders_post_replies_at_once_and_each_reply_exactly_once(engine: Engine) -> None:
    # under load one sender at a time fell behind the staff; each sender claims its own
    now = datetime.now(UTC)
    queued = []
    for n in range(9):
        incident = add_incident(engine, now, f"Жалоба {n}", external_id=f"c{n}", author_id=str(n))
        assert incident is not None
        with engine.begin() as conn:
            queued.append(send_reply(conn, incident, "Проверим.", "anna", now))
    platform = SlowPlatform()
    worker = Worker(
        engine,
        [platform],
        WorkerConfig(sweep_interval=3600, outbox_interval=0.1, reply_senders=3),
        INGESTION,
    )
    worker.start()
    try:
        assert wait_for(lambda: len(platform.posted) == 9)
    finally:
        worker.stop(timeout=5)
    assert sorted(platform.posted) == sorted(queued)
    assert platform.most_at_once == 3
    with engine.connect() as conn:
        rows = conn.execute(select(db.outbox.c.status, db.outbox.c.claimed_by)).all()
    assert {r.status for r in rows} == {"posted"}
    assert {r.claimed_by for r in rows} <= {
        worker.worker_id,
        f"{worker.worker_id}-s1",
        f"{worker.worker_id}-s2",
    }


# --- a part of the worker that dies --------------------------------------------------------


class DyingSource:
    """A source whose listener raises what no round may swallow (as a bug in a C extension
    or an interpreter error would): the worker must say it cannot go on."""

    name = "dying"
    platform = Platform.VK

    def sweep(self, cursors: Mapping[str, str], *, full: bool = False) -> Iterator[Batch]:
        yield Batch()

    def listen_once(self, cursors: Mapping[str, str]) -> Batch:
        raise SystemExit("the listener's interpreter state is broken")

    def post_reply(self, reply: Any) -> PostedReply:
        raise AssertionError("not used")

    def close(self) -> None:
        pass


def test_a_dead_listener_ends_the_worker_with_an_error_for_the_service_manager(
    engine: Engine,
) -> None:
    worker = Worker(
        engine,
        [DyingSource()],
        WorkerConfig(sweep_interval=3600, outbox_interval=3600),
        INGESTION,
        listeners=["dying"],
    )
    started = time.monotonic()
    with pytest.raises(WorkerDied, match="listen:dying"):
        worker.run_until_signal(extra_stop=lambda: time.monotonic() - started > 10)
    assert time.monotonic() - started < 5
    with engine.connect() as conn:
        assert inbox.lease_owners(conn) == set()  # stopped cleanly: leases given back


def test_periodic_sweeps_are_spread_so_many_sources_do_not_sweep_at_one_moment(
    engine: Engine, fake_vk: FakeVk
) -> None:
    source = vk_source(fake_vk)
    worker = Worker(
        engine,
        [source],
        WorkerConfig(sweep_interval=600, outbox_interval=3600, full_sweep_interval=3600),
        INGESTION,
    )
    worker.start()
    try:
        assert wait_for(lambda: sweeps(fake_vk) == 1)  # the first sweep: at once, to catch up
        times = []
        for _ in range(50):  # when the trigger would fire next, drawn 50 times
            job = worker._scheduler.get_job("sweep:vk-test")
            assert job is not None
            last = datetime.now(UTC)
            times.append((job.trigger.get_next_fire_time(last, last) - last).total_seconds())
        # put off by up to a tenth, at random
        assert min(times) >= 600
        assert max(times) <= 660
        assert max(times) - min(times) > 10
    finally:
        worker.stop(timeout=5)
        source.close()


def test_after_the_catch_up_sweep_each_source_sweeps_at_a_moment_of_its_own(
    engine: Engine, fake_vk: FakeVk
) -> None:
    # all sources sweep at once at start; if they then kept that moment, 200 of them would
    # sweep within the same minute every interval and hold live intake back
    sources = [vk_source(fake_vk, name=f"vk-{n}") for n in range(8)]
    worker = Worker(
        engine,
        sources,
        WorkerConfig(sweep_interval=600, outbox_interval=3600, full_sweep_interval=3600),
        INGESTION,
    )
    started = datetime.now(UTC)
    worker.start()
    try:
        assert wait_for(lambda: sweeps(fake_vk) >= 8)  # every source's catch-up sweep
        nexts: list[float] = []
        fulls: list[float] = []
        for n in range(8):
            job = worker._scheduler.get_job(f"sweep:vk-{n}")
            assert job is not None
            assert wait_for(lambda job=job: job.next_run_time - started < timedelta(seconds=601))
            nexts.append((job.next_run_time - started).total_seconds())
            full = worker._scheduler.get_job(f"full:vk-{n}")
            assert full is not None
            fulls.append((full.next_run_time - started).total_seconds())
        assert all(0 < s <= 601 for s in nexts)
        assert all(0 < s <= 3600 * 1.1 for s in fulls)  # a phase, then up to a tenth later
        assert max(fulls) - min(fulls) > 600
        assert max(nexts) - min(nexts) > 100  # spread over the interval, not bunched
    finally:
        worker.stop(timeout=5)
        for source in sources:
            source.close()
