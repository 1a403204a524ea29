"""the satisfaction survey: campaigns, responses, reply rating links, follow-up tasks

Nothing about a respondent is stored but the answers and the time; a rating link keeps only
the SHA-256 of its token.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import incident.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = incident.db.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "survey_campaigns",
        sa.Column("id", ID, nullable=False),
        sa.Column("slug", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("definition", incident.db.JsonType, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_campaigns")),
        sa.UniqueConstraint("slug", name=op.f("uq_survey_campaigns_slug")),
    )
    op.create_table(
        "survey_responses",
        sa.Column("id", ID, nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("submitted_at", WHEN, nullable=False),
        sa.Column("answers", incident.db.JsonType, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["survey_campaigns.id"],
            name=op.f("fk_survey_responses_campaign_id_survey_campaigns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_responses")),
    )
    op.create_index(
        "ix_survey_responses_campaign", "survey_responses", ["campaign_id", "submitted_at"]
    )
    op.create_table(
        "rating_links",
        sa.Column("id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("sent_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("answered_at", WHEN, nullable=True),
        sa.Column("score", sa.SmallInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_rating_links_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_rating_links_token_hash")),
    )
    op.create_index("ix_rating_links_incident", "rating_links", ["incident_id"])
    op.create_table(
        "survey_tasks",
        sa.Column("id", ID, nullable=False),
        sa.Column("response_id", ID, nullable=False),
        sa.Column("question", sa.String(length=32), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["survey_responses.id"],
            name=op.f("fk_survey_tasks_response_id_survey_responses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_tasks")),
    )
    op.create_index("ix_survey_tasks_open", "survey_tasks", ["closed_at", "due_on"])


def downgrade() -> None:
    op.drop_index("ix_survey_tasks_open", table_name="survey_tasks")
    op.drop_table("survey_tasks")
    op.drop_index("ix_rating_links_incident", table_name="rating_links")
    op.drop_table("rating_links")
    op.drop_index("ix_survey_responses_campaign", table_name="survey_responses")
    op.drop_table("survey_responses")
    op.drop_table("survey_campaigns")
