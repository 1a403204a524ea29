"""staff web app: users, login throttling, claims, notes, topic corrections

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import incident.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("claimed_until", incident.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_incidents_queue_topic", ["status", "topic", "due_at"], unique=False
        )
        batch_op.create_index(
            "ix_incidents_assignee", ["assignee", "status", "due_at"], unique=False
        )
        batch_op.create_index(
            "ix_incidents_claimed", ["claimed_by", "status", "due_at"], unique=False
        )
        batch_op.create_index("ix_incidents_due", ["due_at"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("password_changed_at", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", incident.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "notes",
        sa.Column("id", ID, nullable=False),
        sa.Column(
            "incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_notes_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.create_index("ix_notes_incident", ["incident_id", "created_at"], unique=False)

    op.create_table(
        "topic_corrections",
        sa.Column("id", ID, nullable=False),
        sa.Column(
            "incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("from_topic", sa.String(length=32), nullable=True),
        sa.Column("to_topic", sa.String(length=32), nullable=False),
        sa.Column("ruleset_version", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", incident.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_topic_corrections_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_corrections")),
    )
    with op.batch_alter_table("topic_corrections", schema=None) as batch_op:
        batch_op.create_index("ix_topic_corrections_at", ["at"], unique=False)
        batch_op.create_index("ix_topic_corrections_incident", ["incident_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("topic_corrections", schema=None) as batch_op:
        batch_op.drop_index("ix_topic_corrections_incident")
        batch_op.drop_index("ix_topic_corrections_at")
    op.drop_table("topic_corrections")
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index("ix_notes_incident")
    op.drop_table("notes")
    op.drop_table("login_throttle")
    op.drop_table("users")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_due")
        batch_op.drop_index("ix_incidents_claimed")
        batch_op.drop_index("ix_incidents_assignee")
        batch_op.drop_index("ix_incidents_queue_topic")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
