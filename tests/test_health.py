"""`incident health` and the probes: what a monitoring script learns, and when it hears of a
problem. A real worker against the fake VK records its heartbeat; problems are made the way
they happen (a worker that never ran, a stopped source, a reply nobody sends, a failing
warning step, a schema behind)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from incident import health, inbox, migrate
from incident.config import Config, WorkerConfig
from incident.daemon import Worker
from incident.db import make_engine
from incident.inbox import calendar_hours
from incident.models import ReplyKind, SourceState
from incident.pipeline import Ingestion
from incident.sources.fakes.vk_server import FakeVk
from incident.sources.vk import VkSource
from incident.wiring import load_config
from tests.test_cli import run
from tests.test_process import GID, wait_for
from tests.world import add_incident

SOURCE = "vk-test"


@pytest.fixture
def config_file(engine: Engine, tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    url = engine.url.render_as_string(hide_password=False)
    path.write_text(
        f'[database]\nurl = "{url}"\n\n[worker]\nsweep_interval_seconds = 60\n\n'
        f'[[sources]]\nname = "{SOURCE}"\nplatform = "vk"\ngroup_id = {GID}\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config(config_file: Path) -> Config:
    return load_config(config_file, require_secrets=False)


def verdicts(engine: Engine, config: Config, now: datetime | None = None) -> dict[str, bool]:
    checks = health.check_health(engine, config, now or datetime.now(UTC))
    return {c.name: c.ok for c in checks}


def vk_source(fake_vk: FakeVk) -> VkSource:
    return VkSource(
        name=SOURCE,
        group_id=GID,
        community_token="community-token",
        sweep_token="service-token",
        session_factory=fake_vk.session,
        throttle=False,
    )


@contextmanager
def worker_on(engine: Engine, fake_vk: FakeVk) -> Iterator[Worker]:
    """A started worker polling the fake VK, its heartbeat every 0.2 s; stopped on leaving."""
    source = vk_source(fake_vk)
    worker = Worker(
        engine,
        [source],
        WorkerConfig(sweep_interval=60, outbox_interval=0.2),
        Ingestion(deadline=calendar_hours(8)),
        heartbeat_interval=0.2,
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=5)
        source.close()


@pytest.fixture
def running_worker(engine: Engine, fake_vk: FakeVk) -> Iterator[Worker]:
    with worker_on(engine, fake_vk) as worker:
        yield worker


def test_without_a_running_worker_health_names_the_problem_and_exits_1(
    engine: Engine, config_file: Path
) -> None:
    code, out, _ = run("--config", str(config_file), "health")
    assert code == 1
    assert "ok       database: reachable" in out
    assert "PROBLEM  worker: no worker alive (none is running)" in out
    assert f"PROBLEM  source {SOURCE}: never polled successfully" in out


def test_with_a_running_worker_that_polled_every_check_is_ok_and_exits_0(
    engine: Engine, config_file: Path, running_worker: Worker
) -> None:
    config = load_config(config_file, require_secrets=False)
    assert wait_for(lambda: all(verdicts(engine, config).values()), 10)
    code, out, _ = run("--config", str(config_file), "health")
    assert code == 0, out
    assert f"worker: 1 alive ({running_worker.worker_id})" in out
    assert f"ok       source {SOURCE}: last success" in out


def test_a_worker_stopped_cleanly_is_not_reported_alive(
    engine: Engine, config: Config, running_worker: Worker
) -> None:
    assert wait_for(lambda: verdicts(engine, config).get("worker") is True)
    running_worker.stop(timeout=5)
    assert verdicts(engine, config)["worker"] is False


def test_a_worker_silent_for_a_minute_is_dead_to_health(
    engine: Engine, config: Config, running_worker: Worker
) -> None:
    assert wait_for(lambda: verdicts(engine, config).get("worker") is True)
    later = datetime.now(UTC) + health.WORKER_SILENT_AFTER + timedelta(seconds=5)
    assert verdicts(engine, config, later)["worker"] is False


def test_a_stopped_source_or_one_silent_for_three_intervals_is_a_problem(
    engine: Engine, config: Config
) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        inbox.record_source_success(conn, SOURCE, "vk", now, api_calls=1, swept=True)
    assert verdicts(engine, config, now)[f"source {SOURCE}"] is True
    assert verdicts(engine, config, now + timedelta(seconds=181))[f"source {SOURCE}"] is False
    with engine.begin() as conn:
        inbox.record_source_error(conn, SOURCE, "vk", now, SourceState.STOPPED, "ключ отозван")
    checks = {c.name: c for c in health.check_health(engine, config, now)}
    assert not checks[f"source {SOURCE}"].ok
    assert "ключ отозван" in checks[f"source {SOURCE}"].detail


def test_a_reply_waiting_ten_minutes_past_its_time_is_a_stuck_outbox(
    engine: Engine, config: Config
) -> None:
    now = datetime.now(UTC)
    incident_id = add_incident(engine, now, "Магазин не вернул деньги", external_id="1")
    assert incident_id is not None
    with engine.begin() as conn:
        inbox.queue_reply(conn, incident_id, "Здравствуйте!", "anna", now, kind=ReplyKind.ANSWER)
    assert verdicts(engine, config, now)["outbox"] is True
    assert verdicts(engine, config, now + timedelta(minutes=11))["outbox"] is False


def test_a_failing_warning_step_is_reported_from_the_workers_heartbeat(
    engine: Engine, config: Config, fake_vk: FakeVk
) -> None:
    def broken_warnings(now: datetime) -> int:
        raise ConnectionError("the mail server refused us")

    source = vk_source(fake_vk)
    worker = Worker(
        engine,
        [source],
        WorkerConfig(sweep_interval=60, outbox_interval=0.2),
        Ingestion(deadline=calendar_hours(8)),
        warn_step=broken_warnings,
        warn_interval=0.1,
        heartbeat_interval=0.2,
    )
    worker.start()
    try:
        assert wait_for(lambda: verdicts(engine, config).get("warnings") is False, 10)
    finally:
        worker.stop(timeout=5)
        source.close()
    checks = {c.name: c for c in health.check_health(engine, config, datetime.now(UTC))}
    assert "warnings" not in checks  # no live worker: nothing to say about its parts


def test_a_schema_behind_the_code_is_the_only_problem_reported(
    tmp_path: Path, config: Config
) -> None:
    old = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    migrate.upgrade(old, "0006")
    try:
        checks = health.check_health(old, config, datetime.now(UTC))
    finally:
        old.dispose()
    assert [(c.name, c.ok) for c in checks] == [("database", False)]
    assert "incident db upgrade" in checks[0].detail


def test_a_failing_repeat_step_is_reported_from_the_workers_heartbeat(
    engine: Engine, config: Config, fake_vk: FakeVk
) -> None:
    # the grouping of repeats cannot read its list (a damaged database): monitoring hears of it
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE repeat_pending RENAME TO repeat_pending_away"))
    try:
        with worker_on(engine, fake_vk) as worker:
            assert wait_for(lambda: verdicts(engine, config).get("repeats") is False, 10)
            checks = {c.name: c for c in health.check_health(engine, config, datetime.now(UTC))}
            assert checks["repeats"].detail.startswith("grouping of repeats failed on ")
            assert "repeat_pending" in checks["repeats"].detail
            assert worker.problem() is None  # the worker goes on; the step is tried again
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE repeat_pending_away RENAME TO repeat_pending"))
