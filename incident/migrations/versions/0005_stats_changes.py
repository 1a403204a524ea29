"""stats changes: incidents.changed_at and reply-kind counts, kept by triggers

``moves_to_private`` / ``redirects``: the incident's posted replies of that kind by a person,
so the statistics read them in the same pass as the other counts instead of joining the outbox.

Every insert or update of an incident, and every change of an outbox row's status, kind or
author, stamps the incident with the database's clock (epoch seconds). A write that sets
``changed_at`` itself keeps its value (imports of historical rows, the benchmarks). The web app's
statistics cache asks "which incidents changed since my last look?" through the index and
recomputes only the months those incidents belong to. Triggers rather than application code,
so that no write path (the worker, the web app, the CLI, an administrator's SQL) can forget.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL: now() is the transaction's start, never later than its commit, which is what
# the cache's look-back margin relies on.
PG_UP = [
    """
    CREATE FUNCTION incident_touch_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' AND NEW.changed_at IS NULL
           OR TG_OP = 'UPDATE' AND NEW.changed_at IS NOT DISTINCT FROM OLD.changed_at THEN
            NEW.changed_at := extract(epoch FROM now());
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER incidents_changed BEFORE INSERT OR UPDATE ON incidents
    FOR EACH ROW EXECUTE FUNCTION incident_touch_changed()
    """,
    """
    CREATE FUNCTION outbox_touch_incident() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE incidents SET changed_at = extract(epoch FROM now()),
               moves_to_private = (SELECT count(*) FROM outbox AS o
                                   WHERE o.incident_id = NEW.incident_id
                                     AND o.kind = 'move-to-private' AND o.status = 'posted'
                                     AND o.created_by NOT IN ('worker')),
               redirects = (SELECT count(*) FROM outbox AS o
                            WHERE o.incident_id = NEW.incident_id
                              AND o.kind = 'redirect' AND o.status = 'posted'
                              AND o.created_by NOT IN ('worker'))
        WHERE id = NEW.incident_id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER outbox_changed_insert AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_touch_incident()
    """,
    """
    CREATE TRIGGER outbox_changed_update AFTER UPDATE ON outbox
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.kind IS DISTINCT FROM NEW.kind
                       OR OLD.created_by IS DISTINCT FROM NEW.created_by)
    EXECUTE FUNCTION outbox_touch_incident()
    """,
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS outbox_changed_update ON outbox",
    "DROP TRIGGER IF EXISTS outbox_changed_insert ON outbox",
    "DROP FUNCTION IF EXISTS outbox_touch_incident()",
    "DROP TRIGGER IF EXISTS incidents_changed ON incidents",
    "DROP FUNCTION IF EXISTS incident_touch_changed()",
]

# The kind counts are the posted replies by a person: 'worker' is models.AUTOMATIC_ACTORS.
# SQLite: AFTER triggers that stamp the row (recursive_triggers is off, so the stamp does not
# fire the update trigger again). Note: a later migration that rebuilds the incidents or
# outbox table (batch "move and copy") must create these triggers again.
SQLITE_UP = [
    """
    CREATE TRIGGER incidents_changed_insert AFTER INSERT ON incidents
    WHEN NEW.changed_at IS NULL BEGIN
        UPDATE incidents SET changed_at = ((julianday('now') - 2440587.5) * 86400.0)
        WHERE id = NEW.id;
    END
    """,
    """
    CREATE TRIGGER incidents_changed_update AFTER UPDATE ON incidents
    WHEN NEW.changed_at IS OLD.changed_at BEGIN
        UPDATE incidents SET changed_at = ((julianday('now') - 2440587.5) * 86400.0)
        WHERE id = NEW.id;
    END
    """,
    """
    CREATE TRIGGER outbox_changed_insert AFTER INSERT ON outbox BEGIN
        UPDATE incidents SET changed_at = ((julianday('now') - 2440587.5) * 86400.0),
               moves_to_private = (SELECT count(*) FROM outbox AS o
                                   WHERE o.incident_id = NEW.incident_id
                                     AND o.kind = 'move-to-private' AND o.status = 'posted'
                                     AND o.created_by NOT IN ('worker')),
               redirects = (SELECT count(*) FROM outbox AS o
                                   WHERE o.incident_id = NEW.incident_id
                                     AND o.kind = 'redirect' AND o.status = 'posted'
                                     AND o.created_by NOT IN ('worker'))
        WHERE id = NEW.incident_id;
    END
    """,
    """
    CREATE TRIGGER outbox_changed_update AFTER UPDATE ON outbox
    WHEN OLD.status IS NOT NEW.status OR OLD.kind IS NOT NEW.kind
         OR OLD.created_by IS NOT NEW.created_by
    BEGIN
        UPDATE incidents SET changed_at = ((julianday('now') - 2440587.5) * 86400.0),
               moves_to_private = (SELECT count(*) FROM outbox AS o
                                   WHERE o.incident_id = NEW.incident_id
                                     AND o.kind = 'move-to-private' AND o.status = 'posted'
                                     AND o.created_by NOT IN ('worker')),
               redirects = (SELECT count(*) FROM outbox AS o
                                   WHERE o.incident_id = NEW.incident_id
                                     AND o.kind = 'redirect' AND o.status = 'posted'
                                     AND o.created_by NOT IN ('worker'))
        WHERE id = NEW.incident_id;
    END
    """,
]
# Existing rows: their kind counts from the outbox; changed_at stays NULL (no cache holds
# figures older than this migration), which setting it explicitly keeps.
BACKFILL = """
    UPDATE incidents
    SET moves_to_private = (SELECT count(*) FROM outbox AS o
                                   WHERE o.incident_id = incidents.id
                                     AND o.kind = 'move-to-private' AND o.status = 'posted'
                                     AND o.created_by NOT IN ('worker')),
        redirects = (SELECT count(*) FROM outbox AS o
                                   WHERE o.incident_id = incidents.id
                                     AND o.kind = 'redirect' AND o.status = 'posted'
                                     AND o.created_by NOT IN ('worker')),
        changed_at = NULL
    WHERE id IN (SELECT incident_id FROM outbox
                 WHERE status = 'posted' AND kind IN ('move-to-private', 'redirect'))
"""
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS outbox_changed_update",
    "DROP TRIGGER IF EXISTS outbox_changed_insert",
    "DROP TRIGGER IF EXISTS incidents_changed_update",
    "DROP TRIGGER IF EXISTS incidents_changed_insert",
]


# The columns of ix_incidents_stats as migration 0003 made it.
STATS_INDEX = [
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
]


def upgrade() -> None:
    op.add_column("incidents", sa.Column("changed_at", sa.Float(), nullable=True))
    op.create_index("ix_incidents_changed", "incidents", ["changed_at"], unique=False)
    for name in ("moves_to_private", "redirects"):
        op.add_column(
            "incidents",
            sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False),
        )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_UP if sqlite else PG_UP:
        op.execute(statement)
    op.execute(BACKFILL)
    # The statistics' covering index gains the two counts (index-only scans stay possible).
    op.drop_index("ix_incidents_stats", table_name="incidents")
    op.create_index(
        "ix_incidents_stats", "incidents", [*STATS_INDEX, "moves_to_private", "redirects"]
    )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DOWN if sqlite else PG_DOWN:
        op.execute(statement)
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_stats")
        batch_op.create_index("ix_incidents_stats", STATS_INDEX)
        batch_op.drop_column("redirects")
        batch_op.drop_column("moves_to_private")
        batch_op.drop_index("ix_incidents_changed")
        batch_op.drop_column("changed_at")
