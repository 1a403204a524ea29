"""repeats are linked in the background: the incidents not compared yet

Ingest used to compare every new incident with the day's open ones inside its own
transaction, which made a busy worker's commits several times longer. Ingest now only notes
the new incident in ``repeat_pending``; the worker's repeat step compares what is pending in
bulk, a few seconds later, and removes it from there.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repeat_pending",
        sa.Column(
            "incident_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_repeat_pending")),
    )


def downgrade() -> None:
    op.drop_table("repeat_pending")
