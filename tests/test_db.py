"""The migrations are the schema: what Alembic builds matches the tables the code uses."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, select
from sqlalchemy.pool import QueuePool

from incident import db, inbox, migrate
from incident.db import make_engine, metadata
from incident.users import Role
from tests.world import add_incident, add_user


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


def test_topic_checks_stored_before_0017_are_given_their_incidents_opening_time(
    tmp_path: Path,
) -> None:
    # the statistics find a day's corrections and confirmations by it: a row without it
    # would drop out of every figure
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        migrate.upgrade(engine)
        add_user(engine, "anna", Role.STAFF, now)
        corrected = add_incident(engine, now, "Обсчитали", external_id="1", topic="trade")
        confirmed = add_incident(engine, now, "Нет связи", external_id="2", topic="telecom")
        assert corrected is not None
        assert confirmed is not None
        with engine.begin() as conn:
            inbox.change_topic(conn, corrected, "services", "anna", now)
            inbox.confirm_topic(conn, confirmed, "anna", now)
        config = migrate.alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:  # the rows as 0016 kept them: no opening time
            config.attributes["connection"] = conn
            command.downgrade(config, "0016")
        migrate.upgrade(engine)
        i, tc, tcf = db.incidents.c, db.topic_corrections.c, db.topic_confirmations.c
        with engine.connect() as conn:
            opened = dict(conn.execute(select(i.id, i.opened_at)).all())
            assert conn.execute(select(tc.incident_id, tc.incident_opened_at)).all() == [
                (corrected, opened[corrected])
            ]
            assert conn.execute(select(tcf.incident_id, tcf.incident_opened_at)).all() == [
                (confirmed, opened[confirmed])
            ]
    finally:
        engine.dispose()
