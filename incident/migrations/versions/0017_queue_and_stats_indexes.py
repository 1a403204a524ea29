"""a page's queue by community id; the incidents with a move or redirect, by opening time

The queue of one page filters on source = X OR community = X. The source had its index
(0009); the community's open incidents were read from the statistics' covering index, whose
first column is the opening time: 217 ms a count at a million incidents, on every request of a
page's queue. ix_incidents_community_queue serves it as the source's index does.

The statistics' per-person figures count each person's moves and redirects of the days they
read again: they find those incidents first and then their outbox rows. Found by the opening
time alone, that meant fetching every incident row of those days from the table (about 40 ms
of a statistics view in use at a million incidents); this partial index holds only the few
percent of incidents with such a reply.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVED = sa.text("moves_to_private > 0 OR redirects > 0")


def upgrade() -> None:
    op.create_index("ix_incidents_community_queue", "incidents", ["community", "status", "due_at"])
    op.create_index(
        "ix_incidents_moved",
        "incidents",
        ["opened_at", "id"],
        postgresql_where=MOVED,
        sqlite_where=MOVED,
    )


def downgrade() -> None:
    op.drop_index("ix_incidents_moved", table_name="incidents")
    op.drop_index("ix_incidents_community_queue", table_name="incidents")
