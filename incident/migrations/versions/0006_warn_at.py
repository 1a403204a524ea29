"""warn_at: the warning time stored with the deadline

Ingest stores ``warn_at`` next to ``due_at``, from the same deadline policy; the SLA warning
step reads it instead of recomputing the deadline on every run. Existing rows keep NULL: the
step computes theirs once and stores it.

A plain ``op.add_column`` (no batch "move and copy"): SQLite adds a nullable column in place,
so the triggers migration 0005 put on ``incidents`` survive.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import incident.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "incidents",
        sa.Column("warn_at", incident.db.UtcDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    # SQLite (3.35+) drops a column in place too; the 0005 triggers do not name warn_at.
    op.drop_column("incidents", "warn_at")
