"""topic checks stamp the incident: a confirmation or correction marks its incident changed

The statistics keep each day's topic confirmations and corrections in the web app's cache
(``stats.StatsCache``), which learns of changes from ``incidents.changed_at`` (migration 0005).
A confirmation («верно») writes only its own row, so these triggers stamp the incident on every
insert, update or delete of a confirmation or correction, as the outbox triggers do.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("topic_confirmations", "topic_corrections")

# PostgreSQL: now() is the transaction's start, as in 0005 (the cache's look-back margin).
PG_UP = [
    """
    CREATE FUNCTION topic_check_touch_incident() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            UPDATE incidents SET changed_at = extract(epoch FROM now())
            WHERE id = OLD.incident_id;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            UPDATE incidents SET changed_at = extract(epoch FROM now())
            WHERE id = NEW.incident_id;
        END IF;
        RETURN NULL;
    END $$
    """,
    *(
        f"""
        CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION topic_check_touch_incident()
        """
        for table in TABLES
    ),
]
PG_DOWN = [
    *(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}" for table in TABLES),
    "DROP FUNCTION IF EXISTS topic_check_touch_incident()",
]

STAMP = "UPDATE incidents SET changed_at = ((julianday('now') - 2440587.5) * 86400.0)"
SQLITE_UP = [
    statement
    for table in TABLES
    for statement in (
        f"""
        CREATE TRIGGER {table}_changed_insert AFTER INSERT ON {table} BEGIN
            {STAMP} WHERE id = NEW.incident_id;
        END
        """,
        f"""
        CREATE TRIGGER {table}_changed_update AFTER UPDATE ON {table} BEGIN
            {STAMP} WHERE id IN (OLD.incident_id, NEW.incident_id);
        END
        """,
        f"""
        CREATE TRIGGER {table}_changed_delete AFTER DELETE ON {table} BEGIN
            {STAMP} WHERE id = OLD.incident_id;
        END
        """,
    )
]
SQLITE_DOWN = [
    f"DROP TRIGGER IF EXISTS {table}_changed_{op_}"
    for table in TABLES
    for op_ in ("insert", "update", "delete")
]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_UP if sqlite else PG_UP:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DOWN if sqlite else PG_DOWN:
        op.execute(statement)
