"""Reads for the command line and the demo: the open incidents and the headline counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from incident import db
from incident.models import IncidentStatus, OutboxStatus


def open_incidents(conn: Connection, limit: int = 50) -> list[Any]:
    """Up to ``limit`` open incidents with their comment, newest comment first."""
    return list(
        conn.execute(
            select(
                db.incidents.c.id,
                db.incidents.c.platform,
                db.incidents.c.community,
                db.incidents.c.topic,
                db.incidents.c.status,
                db.incidents.c.opened_at,
                db.incidents.c.due_at,
                db.comments.c.author_name,
                db.comments.c.author_id,
                db.comments.c.text,
                db.comments.c.created_at,
            )
            .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
            .where(db.incidents.c.status == IncidentStatus.OPEN.value)
            .order_by(db.comments.c.created_at.desc(), db.incidents.c.id.desc())
            .limit(limit)
        )
    )


def counts(conn: Connection) -> dict[str, int]:
    """``comments`` stored, incidents ``open``, replies ``posted``: what ``incident status``
    and the demo print."""

    def n(stmt: Any) -> int:
        return int(conn.execute(stmt).scalar_one())

    return {
        "comments": n(select(func.count()).select_from(db.comments)),
        "open": n(
            select(func.count())
            .select_from(db.incidents)
            .where(db.incidents.c.status == IncidentStatus.OPEN.value)
        ),
        "posted": n(
            select(func.count())
            .select_from(db.outbox)
            .where(db.outbox.c.status == OutboxStatus.POSTED.value)
        ),
    }
