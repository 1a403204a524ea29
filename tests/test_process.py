"""The worker as a process: killed at any moment it loses nothing and stores nothing twice;
SIGTERM stops it cleanly; the daemon's listeners and sender work together."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, func, select

from incident import db
from incident.config import WorkerConfig
from incident.daemon import Worker
from incident.inbox import calendar_hours
from incident.models import IncidentStatus
from incident.pipeline import Ingestion
from incident.sources.fakes.vk_server import FakeVk
from incident.sources.vk import RetryPolicy, VkSource
from tests.world import send_reply

GID = 42  # the community of the default fake VK (tests.world.DEFAULT_VK)


def write_config(
    tmp_path: Path, engine: Engine, fake_vk: FakeVk, level: str = "warning", **worker: object
) -> Path:
    (tmp_path / "community").write_text("community-token", encoding="utf-8")
    (tmp_path / "sweep").write_text("service-token", encoding="utf-8")
    url = engine.url.render_as_string(hide_password=False)
    extra = "".join(f"{k} = {str(v).lower()}\n" for k, v in worker.items())
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[database]
url = "{url}"
[log]
level = "{level}"
format = "json"
[worker]
throttle = false
retry_initial_seconds = 0.01
retry_maximum_seconds = 0.05
{extra}
[[sources]]
name = "vk-test"
group_id = {GID}
community_token_file = "community"
sweep_token_file = "sweep"
longpoll_wait_seconds = 1
api_url = "{fake_vk.url}"
""",
        encoding="utf-8",
    )
    return path


def incident_cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "incident", "--config", str(config), *args]


def stored_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r.external_id for r in conn.execute(select(db.comments.c.external_id))]


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_killing_the_worker_at_random_moments_loses_and_duplicates_nothing(
    engine: Engine, fake_vk: FakeVk, tmp_path: Path
) -> None:
    truth: set[str] = set()
    posts = [fake_vk.add_post(GID, f"Пост {p}") for p in range(8)]

    def publish(per_post: int) -> None:
        for post in posts:
            for c in range(per_post):
                truth.add(str(fake_vk.add_comment(GID, post, 1001, f"Жалоба {post}-{c}")))

    publish(30)
    fake_vk.delay_next("wall.getComments", 0.08, times=100_000)  # a sweep takes a while
    config = write_config(tmp_path, engine, fake_vk)
    rng = random.Random(5)
    kills = 0
    for _ in range(20):  # bounded: kill mid-sweep until it has happened 4 times
        proc = subprocess.Popen(incident_cli(config, "poll", "--once"), stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 1.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(10)
        publish(2)  # comments published between crashes must arrive too
        if kills == 4:
            break
    done = subprocess.run(incident_cli(config, "poll", "--once"), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert kills == 4  # the test did kill the worker mid-sweep
    ids = stored_ids(engine)
    assert len(ids) == len(set(ids))
    assert set(ids) == truth
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(db.incidents)).scalar_one() == len(
            truth
        )


def test_sigterm_stops_the_running_worker_within_seconds(
    engine: Engine, fake_vk: FakeVk, tmp_path: Path
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    fake_vk.add_comment(GID, post, 1001, "Вопрос про возврат товара")
    config = write_config(tmp_path, engine, fake_vk, level="info")
    proc = subprocess.Popen(
        incident_cli(config, "run"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert wait_for(lambda: len(stored_ids(engine)) == 1, 20)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        stopped_in = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert stopped_in < 8
    assert b"worker_stopped" in err


def test_at_debug_level_every_line_the_worker_writes_is_json(
    engine: Engine, fake_vk: FakeVk, tmp_path: Path
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    fake_vk.add_comment(GID, post, 1001, "Вопрос про возврат товара")
    fake_vk.fail_next("wall.get", 6)  # too many requests: retried, with a debug-worthy line
    config = write_config(tmp_path, engine, fake_vk, level="debug")
    proc = subprocess.Popen(
        incident_cli(config, "run"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert wait_for(lambda: len(stored_ids(engine)) == 1, 20)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines = err.decode().splitlines()
    events = [json.loads(line) for line in lines]  # each one a JSON object
    assert all(isinstance(e, dict) for e in events)
    retry = [e for e in events if e["event"] == "vk call failed, retrying"]
    assert retry, lines
    assert retry[0]["logger"] == "incident.sources.vk.calls"
    assert (retry[0]["method"], retry[0]["attempt"]) == ("wall.get", 1)
    loggers = {e.get("logger", "") for e in events}
    assert any(name.startswith("apscheduler.") for name in loggers), loggers
    assert any(name.startswith("urllib3.") for name in loggers), loggers
    assert "worker_stopped" in {e["event"] for e in events}


def test_the_daemon_listens_and_posts_replies_until_stopped(
    engine: Engine, fake_vk: FakeVk
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    early = fake_vk.add_comment(GID, post, 1001, "Пока воркер был выключен")
    source = VkSource(
        name="vk-test",
        group_id=GID,
        community_token="community-token",
        sweep_token="service-token",
        session_factory=fake_vk.session,
        throttle=False,
        longpoll_wait=1,
        retry=RetryPolicy(attempts=3, initial=0.01, maximum=0.05),
    )
    worker = Worker(
        engine,
        [source],
        WorkerConfig(sweep_interval=3600, outbox_interval=0.1),
        Ingestion(deadline=calendar_hours(8)),
        listeners=["vk-test"],
        worker_id="test-worker",
    )
    worker.start()
    try:
        assert wait_for(lambda: str(early) in stored_ids(engine))  # catch-up sweep at start
        live = fake_vk.add_comment(GID, post, 1001, "Пришёл, пока воркер работает")
        assert wait_for(lambda: str(live) in stored_ids(engine))  # long poll
        with engine.begin() as conn:
            incident_id = conn.execute(
                select(db.incidents.c.id)
                .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
                .where(db.comments.c.external_id == str(live))
            ).scalar_one()
            send_reply(conn, incident_id, "Здравствуйте!", "anna", worker.clock())
        assert wait_for(lambda: len(fake_vk.created) == 1)
        assert wait_for(lambda: _status(engine, incident_id) == IncidentStatus.ANSWERED)
    finally:
        started = time.monotonic()
        worker.stop(timeout=5)
        source.close()
    assert time.monotonic() - started < 6
    assert len(fake_vk.created) == 1


def _status(engine: Engine, incident_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(db.incidents.c.status).where(db.incidents.c.id == incident_id)
            ).scalar_one()
        )


def test_python_dash_m_incident_shows_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "incident", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    for command in (
        "init",
        "check-config",
        "db",
        "run",
        "poll",
        "status",
        "queue",
        "reply",
        "demo",
    ):
        assert command in out.stdout


def test_the_daemon_runs_the_warnings_step_and_survives_its_failures(
    engine: Engine, fake_vk: FakeVk
) -> None:
    calls: list[object] = []

    def flaky_warnings(now: object) -> int:
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("the mail server is down")
        return 0

    source = VkSource(
        name="vk-test",
        group_id=GID,
        community_token="community-token",
        sweep_token="service-token",
        session_factory=fake_vk.session,
        throttle=False,
    )
    worker = Worker(
        engine,
        [source],
        WorkerConfig(sweep_interval=3600, outbox_interval=3600),
        Ingestion(deadline=calendar_hours(8)),
        warn_step=flaky_warnings,
        warn_interval=0.1,
    )
    worker.start()
    try:
        assert wait_for(lambda: len(calls) >= 3)  # it went on after the first one failed
    finally:
        worker.stop(timeout=5)
        source.close()


def test_two_workers_share_the_sources_one_polls_and_the_other_takes_over(
    engine: Engine, fake_vk: FakeVk
) -> None:
    post = fake_vk.add_post(GID, "Пост")

    def worker(name: str) -> tuple[Worker, VkSource]:
        source = VkSource(
            name="vk-test",
            group_id=GID,
            community_token="community-token",
            sweep_token="service-token",
            session_factory=fake_vk.session,
            throttle=False,
            longpoll_wait=1,
        )
        w = Worker(
            engine,
            [source],
            WorkerConfig(sweep_interval=3600, outbox_interval=3600),
            Ingestion(deadline=calendar_hours(8)),
            listeners=["vk-test"],
            worker_id=name,
        )
        return w, source

    first, first_source = worker("worker-1")
    second, second_source = worker("worker-2")
    first.start()
    try:
        live = fake_vk.add_comment(GID, post, 1001, "Пока работает первый")
        assert wait_for(lambda: str(live) in stored_ids(engine))
        time.sleep(0.5)  # let the first worker's start-up sweeps finish
        calls_before = len(fake_vk.calls)
        second.start()
        time.sleep(1.5)  # the second worker stands by: its sweep and listener find the lease taken
        assert fake_vk.calls[calls_before:] == []  # no sweep, no long-poll set-up by the second
        first.stop(timeout=5)  # releases its lease
        later = fake_vk.add_comment(GID, post, 1001, "После остановки первого")
        assert wait_for(lambda: str(later) in stored_ids(engine), 15)  # the second took over
    finally:
        first.stop(timeout=5)
        second.stop(timeout=5)
        first_source.close()
        second_source.close()
    assert len(stored_ids(engine)) == len(set(stored_ids(engine)))


def test_a_source_with_its_own_sweep_interval_is_swept_on_its_own_schedule(
    engine: Engine, fake_vk: FakeVk
) -> None:
    source = VkSource(
        name="vk-test",
        group_id=GID,
        community_token="community-token",
        sweep_token="service-token",
        session_factory=fake_vk.session,
        throttle=False,
    )
    worker = Worker(
        engine,
        [source],
        WorkerConfig(sweep_interval=3600, outbox_interval=3600),  # the deployment's default
        Ingestion(deadline=calendar_hours(8)),
        sweep_intervals={"vk-test": 1},  # this page's own schedule
    )

    def sweeps() -> int:
        return sum(1 for method, _ in fake_vk.calls if method == "wall.get")

    worker.start()
    try:
        assert wait_for(lambda: sweeps() >= 3, 10)  # once at start, then every second
    finally:
        worker.stop(timeout=5)
        source.close()
    with engine.connect() as conn:
        lease = conn.execute(select(db.source_leases)).one_or_none()
    assert lease is None  # released on stop
