"""worker heartbeats: which workers are alive and how their parts last went

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import incident.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_status",
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("parts", incident.db.JsonType, nullable=False),
        sa.PrimaryKeyConstraint("worker", name=op.f("pk_worker_status")),
    )
    op.create_index("ix_worker_status_beat", "worker_status", ["beat_at"])


def downgrade() -> None:
    op.drop_index("ix_worker_status_beat", table_name="worker_status")
    op.drop_table("worker_status")
