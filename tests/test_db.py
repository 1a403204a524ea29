"""The migrations are the schema: what Alembic builds matches the tables the code uses."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

from incident import migrate
from incident.db import make_engine, metadata


def test_migrations_build_exactly_the_declared_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_upgrading_twice_is_harmless_and_reports_the_head_revision(engine: Engine) -> None:
    migrate.upgrade(engine)
    head = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()
    assert head is not None
    assert migrate.current_revision(engine) == head


def test_a_postgresql_engine_keeps_the_connections_a_busy_moment_opened(pg_database: str) -> None:
    # each new connection is a new PostgreSQL server process: a worker under load must not
    # open and close them several times a second
    eng = make_engine(pg_database)
    try:
        held = [eng.connect() for _ in range(12)]
        pids = {c.exec_driver_sql("SELECT pg_backend_pid()").scalar() for c in held}
        for c in held:
            c.close()
        pool = eng.pool
        assert isinstance(pool, QueuePool)
        assert pool.checkedin() == 12  # none closed on the way back
        again = [eng.connect() for _ in range(12)]
        assert {c.exec_driver_sql("SELECT pg_backend_pid()").scalar() for c in again} == pids
        for c in again:
            c.close()
    finally:
        eng.dispose()


def test_a_postgresql_engine_never_jit_compiles_its_short_queries(pg_database: str) -> None:
    # PostgreSQL's cost guess JIT-compiled a queue count at a million incidents: 23 ms of
    # compilation for a query that runs in 5
    eng = make_engine(pg_database)
    try:
        with eng.connect() as conn:
            assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
    finally:
        eng.dispose()
