"""response figures, SLA warning marks, reply kinds, statistics indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import incident.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATS_INDEX = (
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
)


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("response_seconds", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("response_working_seconds", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("on_time", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("warned_at", incident.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("breach_notified_at", incident.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_incidents_stats", list(STATS_INDEX), unique=False)
        batch_op.create_index(
            "ix_incidents_community_opened", ["community", "opened_at"], unique=False
        )
        batch_op.create_index("ix_incidents_topic_opened", ["topic", "opened_at"], unique=False)
        batch_op.create_index(
            "ix_incidents_platform_opened", ["platform", "opened_at"], unique=False
        )
        batch_op.create_index("ix_incidents_slowest", ["response_working_seconds"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_outbox_kind", ["kind", "incident_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_kind")
        batch_op.drop_column("kind")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_slowest")
        batch_op.drop_index("ix_incidents_platform_opened")
        batch_op.drop_index("ix_incidents_topic_opened")
        batch_op.drop_index("ix_incidents_community_opened")
        batch_op.drop_index("ix_incidents_stats")
        batch_op.drop_column("breach_notified_at")
        batch_op.drop_column("warned_at")
        batch_op.drop_column("on_time")
        batch_op.drop_column("response_working_seconds")
        batch_op.drop_column("response_seconds")
