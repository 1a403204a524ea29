"""the queue's indexes end with the id; PostgreSQL re-reads the incidents' statistics sooner

The queue's first page is read in two ordered parts: urgent incidents by deadline and id, then
the rest. Their indexes ended with the deadline, so PostgreSQL had to sort every matching row
by id among equal deadlines, or, when its statistics believed there were none (the urgent open
incidents of a million-row table whose statistics were taken before any came in), read and
join them all before sorting. On the load benchmark's database after ten minutes of traffic
that part took 27 ms a request (0.7 ms with the id in the index), and it grew with every urgent
incident, since PostgreSQL re-reads a table's statistics only after a tenth of its rows
change: 100,000 changes at a million incidents, months of a committee's traffic. The
incidents table now has its statistics re-read after 1 % of its rows change (at least 1,000):
a new community's or an urgent incident's share is known within minutes, so plans fit the
data (a page's urgent part: 13 ms before, 2.3 ms after ANALYZE). SQLite keeps no such
statistics.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ANALYZE_SOONER = "autovacuum_analyze_scale_factor = 0.01, autovacuum_analyze_threshold = 1000"


def upgrade() -> None:
    op.drop_index("ix_incidents_urgent_queue", table_name="incidents")
    op.create_index("ix_incidents_urgent_queue", "incidents", ["status", "urgent", "due_at", "id"])
    op.drop_index("ix_incidents_queue", table_name="incidents")
    op.create_index("ix_incidents_queue", "incidents", ["status", "due_at", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE incidents SET ({ANALYZE_SOONER})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE incidents RESET "
            "(autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)"
        )
    op.drop_index("ix_incidents_queue", table_name="incidents")
    op.create_index("ix_incidents_queue", "incidents", ["status", "due_at"])
    op.drop_index("ix_incidents_urgent_queue", table_name="incidents")
    op.create_index("ix_incidents_urgent_queue", "incidents", ["status", "urgent", "due_at"])
