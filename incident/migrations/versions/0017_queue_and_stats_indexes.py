"""indexes for a page's queue and the statistics in use; topic checks carry the opening time

The queue of one page filters on source = X OR community = X. The source had its index
(0009); the community's open incidents were read from the statistics' covering index, whose
first column is the opening time: 217 ms a count at a million incidents, on every request of a
page's queue. ix_incidents_community_queue serves it as the source's index does.

The statistics' per-person figures count each person's moves and redirects of the days they
read again: they find those incidents first and then their outbox rows. Found by the opening
time alone, that meant fetching every incident row of those days from the table (about 40 ms
of a statistics view in use at a million incidents); this partial index holds only the few
percent of incidents with such a reply.

The topic corrections and confirmations of those days were found through the days' incident
rows as well (a bitmap scan of some 45,000 rows, hashed against every correction: about 50 ms
a view). They now carry their incident's opening time (copied when written; filled in here
for the existing rows) with an index on it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import incident.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVED = sa.text("moves_to_private > 0 OR redirects > 0")
CHECKS = ("topic_corrections", "topic_confirmations")


def upgrade() -> None:
    op.create_index("ix_incidents_community_queue", "incidents", ["community", "status", "due_at"])
    op.create_index(
        "ix_incidents_moved",
        "incidents",
        ["opened_at", "id"],
        postgresql_where=MOVED,
        sqlite_where=MOVED,
    )
    for table in CHECKS:
        op.add_column(
            table, sa.Column("incident_opened_at", incident.db.UtcDateTime(timezone=True))
        )
        checks = sa.table(table, sa.column("incident_id"), sa.column("incident_opened_at"))
        incidents = sa.table("incidents", sa.column("id"), sa.column("opened_at"))
        op.execute(
            checks.update().values(
                incident_opened_at=sa.select(incidents.c.opened_at)
                .where(incidents.c.id == checks.c.incident_id)
                .scalar_subquery()
            )
        )
        op.create_index(f"ix_{table}_opened", table, ["incident_opened_at"])


def downgrade() -> None:
    for table in CHECKS:
        op.drop_index(f"ix_{table}_opened", table_name=table)
        # Not batch mode: SQLite would copy the table anew and lose its triggers (0015).
        op.execute(f"ALTER TABLE {table} DROP COLUMN incident_opened_at")
    op.drop_index("ix_incidents_moved", table_name="incidents")
    op.drop_index("ix_incidents_community_queue", table_name="incidents")
