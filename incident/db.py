"""Tables, the UTC datetime type and the engine factory.

SQLite by default, PostgreSQL in production.

Schema changes go through Alembic (``incident/migrations``); ``tests/test_db.py`` checks that the
migrations produce exactly these tables.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    or_,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.pool import ConnectionPoolEntry

from incident import files


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; always returns them aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JsonType = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

comments = Table(
    "comments",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("platform", String(16), nullable=False),
    Column("community", String(64), nullable=False),
    Column("post_id", String(64), nullable=False),
    Column("external_id", String(64), nullable=False),
    Column("author_id", String(64), nullable=False),
    Column("author_name", String(256)),
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("seen_at", UtcDateTime, nullable=False),
    Column("from_community", Boolean, nullable=False, default=False),
    Column("reply_to_id", String(64)),
    Column("thread_root_id", String(64)),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("edits", JsonType, nullable=False, default=list),  # [{"text": old, "at": iso}]
    Column("raw", JsonType, nullable=False, default=dict),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("platform", "community", "external_id", name="uq_comments_key"),
    Index("ix_comments_post", "platform", "community", "post_id"),
    Index("ix_comments_author", "platform", "author_id"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("comment_id", ForeignKey("comments.id"), nullable=False, unique=True),
    Column("platform", String(16), nullable=False),
    Column("community", String(64), nullable=False),
    Column("source", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("topic", String(32)),
    Column("verdict", JsonType),
    Column("ruleset_version", String(64)),
    Column("assignee", String(64)),
    Column("opened_at", UtcDateTime, nullable=False),  # when the response clock started
    Column("due_at", UtcDateTime),
    Column("first_response_at", UtcDateTime),
    Column("first_response_by", String(64)),  # a user name, or "platform" for direct answers
    Column("answer_comment_id", ForeignKey("comments.id")),
    Column("closed_reason", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_incidents_opened", "opened_at"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

seen_events = Table(
    "seen_events",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("event_id", String(128), primary_key=True),
    Column("seen_at", UtcDateTime, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("incident_id", ForeignKey("incidents.id"), nullable=False),
    Column("source", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("claimed_by", String(128)),
    Column("lease_until", UtcDateTime),
    Column("posted_external_id", String(64)),
    Column("posted_url", Text),
    Column("posted_at", UtcDateTime),
    Column("last_error", Text),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_incident", "incident_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),  # a user name, or "worker"
    Column("incident_id", ForeignKey("incidents.id")),
    Column("action", String(64), nullable=False),
    Column("details", JsonType, nullable=False, default=dict),
    Index("ix_audit_incident", "incident_id", "at"),
)

source_status = Table(
    "source_status",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("platform", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("last_success_at", UtcDateTime),
    Column("last_sweep_at", UtcDateTime),
    Column("last_error_at", UtcDateTime),
    Column("last_error", Text),
    Column("api_calls", BigInteger, nullable=False, default=0),
    Column("updated_at", UtcDateTime, nullable=False),
)


# --- staff web app (migration 0002) ------------------------------------------------------

# Claims: who is answering an incident right now, until when (a short lease).
incidents.append_column(Column("claimed_by", String(64)))
incidents.append_column(Column("claimed_until", UtcDateTime))
Index("ix_incidents_queue_topic", incidents.c.status, incidents.c.topic, incidents.c.due_at)
Index("ix_incidents_assignee", incidents.c.assignee, incidents.c.status, incidents.c.due_at)
Index("ix_incidents_claimed", incidents.c.claimed_by, incidents.c.status, incidents.c.due_at)
Index("ix_incidents_due", incidents.c.due_at)
# The queue of one page (its filter is source = X OR community = X): migration 0009 for the
# source, 0017 for the community (without it, PostgreSQL read the community's open incidents
# from the statistics' index, opened_at first: 217 ms at a million incidents).
Index("ix_incidents_source_queue", incidents.c.source, incidents.c.status, incidents.c.due_at)
Index("ix_incidents_community_queue", incidents.c.community, incidents.c.status, incidents.c.due_at)

users = Table(
    "users",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(128), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),  # staff | supervisor | admin
    Column("disabled", Boolean, nullable=False, default=False),
    Column("password_changed_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

login_throttle = Table(
    "login_throttle",
    metadata,
    # "user:<account>", "name:<keyed hash of a name that is no account>" or "ip:<address>"
    Column("key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("window_start", UtcDateTime, nullable=False),
    Column("locked_until", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
)

notes = Table(
    "notes",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("incident_id", ForeignKey("incidents.id"), nullable=False),
    Column("author", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_notes_incident", "incident_id", "created_at"),
)

topic_corrections = Table(
    "topic_corrections",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("incident_id", ForeignKey("incidents.id"), nullable=False),
    Column("from_topic", String(32)),
    Column("to_topic", String(32), nullable=False),
    Column("ruleset_version", String(64)),
    Column("actor", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    # The incident's opened_at, copied: the statistics read a day's corrections by it through
    # their own index, not through the day's incident rows (migration 0017).
    Column("incident_opened_at", UtcDateTime),
    Index("ix_topic_corrections_at", "at"),
    Index("ix_topic_corrections_incident", "incident_id"),
    Index("ix_topic_corrections_opened", "incident_opened_at"),
)

# A person said the classifier's topic is right (one click «верно» on the card); with
# topic_corrections, the statistics' measure of how often the classifier is right per topic.
topic_confirmations = Table(
    "topic_confirmations",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("incident_id", ForeignKey("incidents.id"), nullable=False),
    Column("topic", String(32), nullable=False),
    Column("uncertain", Boolean, nullable=False),  # the verdict was a guess below the threshold
    Column("ruleset_version", String(64)),
    Column("actor", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("incident_opened_at", UtcDateTime),  # as in topic_corrections
    UniqueConstraint("incident_id", "topic", name="uq_topic_confirmations_incident_topic"),
    Index("ix_topic_confirmations_at", "at"),
    Index("ix_topic_confirmations_opened", "incident_opened_at"),
)


PG_POOL_SIZE = 15  # PostgreSQL connections a process keeps open
PG_POOL_OVERFLOW = 5  # and opens beyond them at a peak, closed again after use


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pragmas SQLite needs for a worker and a web app side by side.

    A SQLite database file is its user's only (0600): it holds citizens' comments and names.
    It is created so before SQLite opens it, and tightened if an older version left it
    readable; SQLite gives its ``-wal`` and ``-shm`` files the database file's mode."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        database = _sqlite_file(engine.url.database)

        @event.listens_for(engine, "do_connect")
        def _private_database(dialect: Any, record: Any, cargs: Any, cparams: Any) -> None:
            if database is None:
                return
            # a missing folder, say, is left to SQLite: its own error says it better
            with contextlib.suppress(OSError):
                files.private_file(database)
                for suffix in ("-wal", "-shm", "-journal"):
                    files.tighten(database.with_name(database.name + suffix))

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
            # Take BEGIN over from pysqlite (see _sqlite_begin).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # BEGIN IMMEDIATE takes the write lock up front: a read-then-write transaction
            # (a claim) can then never fail with SQLITE_BUSY halfway; it waits busy_timeout.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # Keep the connections a busy process uses open: with SQLAlchemy's default of 5 kept and
    # 10 more opened and closed on demand, a worker under load (or the web app with twenty
    # staff) connected to PostgreSQL several times a second, each a new server process.
    kwargs.setdefault("pool_size", PG_POOL_SIZE)
    kwargs.setdefault("max_overflow", PG_POOL_OVERFLOW)
    # No JIT compilation: every query here is short (a queue page, a card, a batch's rows),
    # and PostgreSQL's cost guess JIT-compiled a queue count at a million incidents for 23 ms
    # of a 250 ms request. The statistics' long reads turned it off already.
    kwargs.setdefault("connect_args", {"options": "-c jit=off"})
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_file(database: str | None) -> Path | None:
    """The file of a SQLite URL's database; None in memory or for a ``file:`` URI."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


# --- response figures, SLA warnings, reply kinds (migration 0003) -------------------------

# Stored when an incident gets its first answer (``sla.response_figures``), so statistics
# aggregate in SQL instead of running working-hours arithmetic per row at query time.
incidents.append_column(Column("response_seconds", BigInteger))  # calendar seconds
incidents.append_column(Column("response_working_seconds", BigInteger))  # working seconds
incidents.append_column(Column("on_time", Boolean))  # first_response_at <= due_at
incidents.append_column(Column("warned_at", UtcDateTime))  # the "deadline is near" warning
incidents.append_column(Column("breach_notified_at", UtcDateTime))  # the breach warning
# ix_incidents_stats, the statistics' covering index: at the end of the file (0005).
Index("ix_incidents_community_opened", incidents.c.community, incidents.c.opened_at)
Index("ix_incidents_topic_opened", incidents.c.topic, incidents.c.opened_at)
Index("ix_incidents_platform_opened", incidents.c.platform, incidents.c.opened_at)
Index("ix_incidents_slowest", incidents.c.response_working_seconds)  # the slowest ten
# answer / move-to-private / redirect / thanks / clarify (the reply's kind); NULL = unknown
outbox.append_column(Column("kind", String(32)))
Index("ix_outbox_kind", outbox.c.kind, outbox.c.incident_id)


# --- source leases (migration 0004) ------------------------------------------------------

# With several workers on one database, one worker at a time polls a source: the holder
# renews its lease while it works; another takes over when the lease expires.
source_leases = Table(
    "source_leases",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("lease_until", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)


# --- the warning time stored with the deadline (migration 0006) ---------------------------

# When the staff are warned that the deadline is near: computed at ingest with ``due_at`` by
# the same deadline policy, so the SLA step reads it instead of recomputing it every run. NULL
# on incidents stored before 0006 (the SLA step fills it in once) and on those with no deadline.
incidents.append_column(Column("warn_at", UtcDateTime))


# --- web sessions (migration 0008) --------------------------------------------------------

# One row per logged-in browser. The signed cookie holds a random key; ``id`` is its SHA-256
# (a copy of the table opens no session). Logging out deletes the row; a password change or
# disabling the account deletes every row of that user.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_web_sessions_user", "user_id"),
    Index("ix_web_sessions_expires", "expires_at"),
)


# --- statistics cache (migration 0005) ---------------------------------------------------

# When the incident last changed, in epoch seconds on the database's clock. Set by triggers
# (on the incident and on its outbox rows), never by the application: the statistics cache
# reads it to recompute only the months that changed.
incidents.append_column(Column("changed_at", Float))
Index("ix_incidents_changed", incidents.c.changed_at)
# The incident's posted replies by a person (not an automatic actor) of these kinds; kept by
# the outbox triggers, read by the statistics in the same pass as the other counts.
incidents.append_column(Column("moves_to_private", Integer, nullable=False, server_default="0"))
incidents.append_column(Column("redirects", Integer, nullable=False, server_default="0"))
# The incidents with such a reply, by when they were opened (a few percent of the rows): the
# statistics' per-person figures find their outbox rows from these (migration 0017).
_MOVED = or_(incidents.c.moves_to_private > 0, incidents.c.redirects > 0)
Index(
    "ix_incidents_moved",
    incidents.c.opened_at,
    incidents.c.id,
    postgresql_where=_MOVED,
    sqlite_where=_MOVED,
)
# Covers every column the statistics read, so a period's figures are one index range scan
# (no table lookups; the rows also hold the verdict JSON, which a scan would drag along).
# Made by migration 0003; migration 0005 re-created it with the reply-kind counts.
Index(
    "ix_incidents_stats",
    *(
        incidents.c[name]
        for name in (
            "opened_at",
            "topic",
            "community",
            "platform",
            "status",
            "first_response_by",
            "assignee",
            "on_time",
            "due_at",
            "response_seconds",
            "response_working_seconds",
            "first_response_at",
            "moves_to_private",
            "redirects",
        )
    ),
)


# --- worker heartbeats (migration 0007) --------------------------------------------------

# One row per worker process: its heartbeat, and how its periodic parts last went (the SLA
# warnings, the outbox sender), so `incident health` and the metrics can tell a live worker
# from a dead one and a silently failing part from a working one. Old rows are pruned.
worker_status = Table(
    "worker_status",
    metadata,
    Column("worker", String(128), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("beat_at", UtcDateTime, nullable=False),
    Column(
        "parts", JsonType, nullable=False, default=dict
    ),  # part -> {"ok_at", "error_at", "error"}
    Index("ix_worker_status_beat", "beat_at"),
)


# --- the satisfaction survey (migration 0010) ------------------------------------------------

# A campaign: one public link (``/survey/<slug>``) and the survey definition it started with, so
# its results stay readable when next year's form changes the file.
survey_campaigns = Table(
    "survey_campaigns",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("slug", String(32), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("survey_id", String(32), nullable=False),
    Column("definition", JsonType, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64)),
    Column("closed_at", UtcDateTime),
)

# One citizen's answers: nothing about the respondent but the answers and the time.
survey_responses = Table(
    "survey_responses",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("campaign_id", ForeignKey("survey_campaigns.id"), nullable=False),
    Column("submitted_at", UtcDateTime, nullable=False),
    Column("answers", JsonType, nullable=False),  # question id -> option number(s) / text / rows
    Index("ix_survey_responses_campaign", "campaign_id", "submitted_at"),
)

# The «оцените ответ» link a reply carries: a one-use token (its SHA-256 here) tied to the
# incident and to who sent the reply, so ratings are known per topic, person and platform.
rating_links = Table(
    "rating_links",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("incident_id", ForeignKey("incidents.id"), nullable=False),
    Column("sent_by", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("answered_at", UtcDateTime),
    Column("score", SmallInteger),
    Column("comment", Text),
    Index("ix_rating_links_incident", "incident_id"),
)

# A follow-up task a supervisor made of an open answer: who does it, by when, and when it was
# done.
survey_tasks = Table(
    "survey_tasks",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("response_id", ForeignKey("survey_responses.id"), nullable=False),
    Column("question", String(32), nullable=False),
    Column("what", Text, nullable=False),
    Column("assignee", String(64), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("closed_by", String(64)),
    Index("ix_survey_tasks_open", "closed_at", "due_on"),
)
# --- the staff's working day (migration 0011) --------------------------------------------

# What a person has typed into an incident's reply editor, kept on the server (saved as they
# type) so no refusal, takeover or reload loses it; one row per incident and user.
reply_drafts = Table(
    "reply_drafts",
    metadata,
    Column("incident_id", ForeignKey("incidents.id"), primary_key=True),
    Column("username", String(64), primary_key=True),
    Column("text", Text, nullable=False),
    Column("kind", String(32)),
    Column("reply_id", String(100)),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Who has an incident's card open right now: each open card stamps its row every few seconds.
card_viewers = Table(
    "card_viewers",
    metadata,
    Column("incident_id", ForeignKey("incidents.id"), primary_key=True),
    Column("username", String(64), primary_key=True),
    Column("seen_at", UtcDateTime, nullable=False),
    Column("editing", Boolean, nullable=False, default=False),
    Index("ix_card_viewers_seen", "seen_at"),
)

# A user's saved views of the queue: a name and the query string of its filters.
saved_filters = Table(
    "saved_filters",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("name", String(60), nullable=False),
    Column("query", String(1000), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("username", "name", name="uq_saved_filters_username_name"),
)

# The classifier's urgent flag (poisoning, no heating...), copied out of the verdict so the
# queue can pin urgent incidents on top through an index.
incidents.append_column(
    Column("urgent", Boolean, nullable=False, default=False, server_default="0")
)
# The queue's two ordered parts (``web.queries.queue``: urgent first, then the rest, each by
# deadline and id) walk these in their exact order: with the id in the index PostgreSQL stops
# after one page even when its statistics believe there is nothing to sort (migration 0018).
Index(
    "ix_incidents_urgent_queue",
    incidents.c.status,
    incidents.c.urgent,
    incidents.c.due_at,
    incidents.c.id,
)
Index("ix_incidents_queue", incidents.c.status, incidents.c.due_at, incidents.c.id)
# --- the learned model's versions (migration 0012) ----------------------------------------

# One row per trained model (``incident.training``): its plain-data weights as JSON text, the
# rules' version it was trained with, and whether it is the active one (at most one is).
# Versions are never deleted, so a rollback can be undone.
topic_models = Table(
    "topic_models",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("ruleset_version", String(64), nullable=False),
    Column("examples", Integer, nullable=False),
    Column("corrections", Integer, nullable=False),
    Column("last_correction", BigInteger),  # the newest topic_corrections.id it saw
    Column("features", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_topic_models_active", "active"),
)

# --- repeats and mass issues (migration 0014) ------------------------------------------------

# A near-duplicate of an open incident of the last day (``incident.repeats``) points at the
# first incident of its group (the group's head; not a foreign key: a head is never deleted,
# and the queue treats a missing one as no group). The queue shows a group as its head's row.
incidents.append_column(Column("repeat_of", BigInteger().with_variant(Integer(), "sqlite")))
Index("ix_incidents_repeat_of", incidents.c.repeat_of, incidents.c.status)

# The supervisors' "mass issue" alerts: one row per organisation or address key
# (``org:...`` / ``addr:...``), claimed before the message goes out so a key is announced
# once a day whatever the number of workers.
mass_alerts = Table(
    "mass_alerts",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("alerted_at", UtcDateTime, nullable=False),
    Column("incidents", Integer, nullable=False),
)

# --- repeats linked in the background (migration 0016) --------------------------------------

# New incidents not yet compared with the day's open ones (``inbox.link_pending_repeats``):
# ingest only notes them here, and the worker's repeat step compares them in bulk. Not a
# foreign key: an incident is never deleted while pending, and the step skips a missing one.
repeat_pending = Table(
    "repeat_pending",
    metadata,
    Column(
        "incident_id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
)
