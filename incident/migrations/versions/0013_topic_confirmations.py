"""topic confirmations: one click «верно» on the card

A person confirms the classifier's topic as they would correct it (topic_corrections): the
statistics count both per topic, so supervisors see how often the classifier is right.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import incident.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "topic_confirmations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.Column("ruleset_version", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_topic_confirmations_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_confirmations")),
        sa.UniqueConstraint(
            "incident_id", "topic", name=op.f("uq_topic_confirmations_incident_topic")
        ),
    )
    with op.batch_alter_table("topic_confirmations", schema=None) as batch_op:
        batch_op.create_index("ix_topic_confirmations_at", ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("topic_confirmations", schema=None) as batch_op:
        batch_op.drop_index("ix_topic_confirmations_at")
    op.drop_table("topic_confirmations")
