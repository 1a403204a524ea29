"""the queue of one page: an index on incidents (source, status, due_at)

The queue's page filter (``community=``: a source name or the platform's id of the page) is
``source = X OR community = X``. ``community`` leads an index already; without one on
``source`` PostgreSQL read every open incident through the queue index and dropped the other
pages' (86,000 rows, 200 ms idle and 2.4 s under load with 1,000,000 incidents, for a page
with few open ones: bench/load.py). With it, the two indexes answer the filter together.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_incidents_source_queue", "incidents", ["source", "status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_incidents_source_queue", table_name="incidents")
