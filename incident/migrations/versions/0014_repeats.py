"""repeats and mass issues: an incident's group, the mass-issue alerts sent

``incidents.repeat_of`` names the first incident of a group of near-duplicates (the queue shows
the group as that row); ``mass_alerts`` records which organisation or address was announced to
the supervisors, and when, so it is announced once a day.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import incident.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "repeat_of", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index("ix_incidents_repeat_of", ["repeat_of", "status"], unique=False)
    op.create_table(
        "mass_alerts",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("alerted_at", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("incidents", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_mass_alerts")),
    )


def downgrade() -> None:
    op.drop_table("mass_alerts")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_repeat_of")
        batch_op.drop_column("repeat_of")
