"""the staff's working day: reply drafts kept on the server, who has a card open, saved queue
views, and the urgent flag on incidents

``reply_drafts`` holds what each person typed into an incident's reply editor (saved as they
type), so a refusal, a takeover or a reload never loses it. ``card_viewers`` is stamped by every
open card every few seconds: the card shows who else is looking. ``saved_filters`` keeps each
user's named queue views. ``incidents.urgent`` copies the classifier's ``urgent`` flag out of the
stored verdict so the queue pins urgent incidents on top through an index; open incidents get it
from their verdicts here.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import incident.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reply_drafts",
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("reply_id", sa.String(length=100), nullable=True),
        sa.Column("updated_at", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_reply_drafts_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("incident_id", "username", name=op.f("pk_reply_drafts")),
    )
    op.create_table(
        "card_viewers",
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("seen_at", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("editing", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_card_viewers_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("incident_id", "username", name=op.f("pk_card_viewers")),
    )
    op.create_index("ix_card_viewers_seen", "card_viewers", ["seen_at"], unique=False)
    op.create_table(
        "saved_filters",
        sa.Column("id", _ID, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("query", sa.String(length=1000), nullable=False),
        sa.Column("created_at", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_filters")),
        sa.UniqueConstraint("username", "name", name="uq_saved_filters_username_name"),
    )
    # A plain ADD COLUMN (no batch rebuild): the statistics' triggers on incidents stay.
    op.add_column(
        "incidents", sa.Column("urgent", sa.Boolean(), server_default="0", nullable=False)
    )
    op.create_index(
        "ix_incidents_urgent_queue", "incidents", ["status", "urgent", "due_at"], unique=False
    )
    _mark_urgent_open_incidents()


def _mark_urgent_open_incidents() -> None:
    incidents = sa.table(
        "incidents",
        sa.column("id", _ID),
        sa.column("status", sa.String()),
        sa.column("verdict", incident.db.JsonType),
        sa.column("urgent", sa.Boolean()),
    )
    conn = op.get_bind()
    urgent: list[Any] = [
        row.id
        for row in conn.execute(
            sa.select(incidents.c.id, incidents.c.verdict).where(incidents.c.status == "open")
        )
        if isinstance(row.verdict, dict) and "urgent" in (row.verdict.get("flags") or ())
    ]
    for start in range(0, len(urgent), 500):
        conn.execute(
            sa.update(incidents)
            .where(incidents.c.id.in_(urgent[start : start + 500]))
            .values(urgent=True)
        )


def downgrade() -> None:
    op.drop_index("ix_incidents_urgent_queue", table_name="incidents")
    # SQLite rebuilds the table here: migration 0005's triggers must be made again after it
    # (downgrading past 0005 drops them anyway; going back up to 0011 is the supported path).
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("urgent")
    op.drop_table("saved_filters")
    op.drop_index("ix_card_viewers_seen", table_name="card_viewers")
    op.drop_table("card_viewers")
    op.drop_table("reply_drafts")
