"""World-building fixtures shared by the suite.

Every database test runs twice: on a fresh SQLite file and on PostgreSQL. PostgreSQL comes from
$INCIDENT_TEST_POSTGRES_URL (default: the local server, user postgres, trust auth). When it is not
reachable the PostgreSQL half is skipped on a developer's machine and FAILS in CI (CI=true).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from incident import migrate, users
from incident.db import make_engine, metadata
from incident.logs import configure_logging
from incident.sources.fakes.vk_server import FakeVk
from tests.world import DEFAULT_VK, VkSetup, serve_fake_vk

PG_ADMIN_URL = os.environ.get(
    "INCIDENT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# The suite's hundreds of accounts and logins hash with argon2's cheapest parameters (0.3 s of
# CPU each otherwise); the processes it starts inherit this. What production hashes with is
# tested in test_web_access.py, in a process without it.
os.environ[users.CHEAP_HASHES_ENV] = "1"

# Computed files (the rules' own model `incident classify` remembers) go to a folder of this
# run, never to the home of whoever runs the suite; the processes it starts inherit it.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="incident-test-cache-")

# Log through the product's own set-up, as `incident run` and `incident web` do: plain-text
# tracebacks with secrets redacted. Left unconfigured, structlog's default renders tracebacks
# with rich (a dev tool pulls it in) and every frame's locals: seconds of CPU per exception
# under the logging lock, which stalled every thread of a worker under test.
configure_logging(level="info", fmt="console")


def _pg_unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI but unavailable: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session, migrated to head."""
    name = f"incident_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _pg_unavailable(f"{type(exc).__name__}: {exc}".splitlines()[0])
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def empty_postgres(eng: Engine) -> None:
    """Every table of ``eng``'s database emptied and every id sequence back at 1, as after the
    migrations. Row by row, with triggers and foreign keys off for the transaction: a test leaves
    a few rows, and TRUNCATE's new files for every table and index cost 0.3 s a test."""
    with eng.begin() as conn:
        sequences = conn.exec_driver_sql(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) FROM pg_sequences"
        ).scalars()
        # the names are the schema's own tables and the catalog's quoted sequence names
        deletes = " ".join(f'DELETE FROM "{t.name}";' for t in metadata.sorted_tables)  # noqa: S608
        restarts = " ".join(f"ALTER SEQUENCE {s} RESTART;" for s in sequences)
        conn.exec_driver_sql(f"SET LOCAL session_replication_role = replica; {deletes} {restarts}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session: each test gets a copy (migrating a
    new file took about 0.4 s of every SQLite test)."""
    path = tmp_path_factory.mktemp("template") / "migrated.sqlite3"
    eng = make_engine(f"sqlite:///{path}")
    migrate.upgrade(eng)
    raw = eng.raw_connection()  # outside a transaction: everything into the main file, which
    try:  # is all the copy takes
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    eng.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: a fresh SQLite file (a copy of the session's migrated one),
    or the session's PostgreSQL database emptied before the test."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
    else:
        eng = make_engine(request.getfixturevalue("pg_database"))
        empty_postgres(eng)
    try:
        yield eng
    finally:
        eng.dispose()


class FakeClock:
    """A clock tests move by hand. Aware UTC datetimes."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def vk_setup() -> VkSetup:
    """What the fake VK knows: groups, tokens, users, its long-poll wait and its validators.
    A test module with a world of its own overrides this fixture."""
    return DEFAULT_VK


@pytest.fixture
def fake_vk(vk_setup: VkSetup) -> Iterator[FakeVk]:
    """A running fake VK with ``vk_setup`` in place whose every answer matched VK's schema."""
    with serve_fake_vk(vk_setup) as server:
        yield server
    assert server.schema_errors == []
