"""the learned model's versions: topic_models

One row per trained model (``incident model train`` or the worker's schedule): the model as
plain data (JSON: feature -> per-topic weights, intercepts), the rules' version it was trained
with, how many examples and corrections it saw, and whether it is the active one. Every worker
and web process reads the active row, so they share one model; versions are never deleted, so
a rollback can be undone.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import incident.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "topic_models",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ruleset_version", sa.String(length=64), nullable=False),
        sa.Column("examples", sa.Integer(), nullable=False),
        sa.Column("corrections", sa.Integer(), nullable=False),
        sa.Column("last_correction", sa.BigInteger(), nullable=True),
        sa.Column("features", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_topic_models")),
    )
    op.create_index("ix_topic_models_active", "topic_models", ["active"])


def downgrade() -> None:
    op.drop_index("ix_topic_models_active", table_name="topic_models")
    op.drop_table("topic_models")
