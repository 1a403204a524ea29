"""Reads for the command line and the demo: the open incidents, the headline counts, the demo
operator's next incident."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exists, func, or_, select

from incident import db
from incident.inbox.drafts import in_peoples_hands
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


def comments_by_platform(conn: Connection) -> dict[str, int]:
    """Comments stored per platform (only the platforms that have any)."""
    rows = conn.execute(
        select(db.comments.c.platform, func.count())
        .group_by(db.comments.c.platform)
        .order_by(db.comments.c.platform)
    )
    return {str(platform): int(n) for platform, n in rows}


def oldest_unattended(
    conn: Connection, actor: str, now: datetime, platform: str | None = None
) -> int | None:
    """The oldest open incident (of ``platform``, if given) nobody but ``actor`` works on: no
    live claim and no assignment of another person, nobody else with its card open or a draft
    of a reply to it, and no reply in the outbox at all (waiting, posted, or failed: a failed
    reply, e.g. OK's «ответьте вручную», is left to a person). None when there is none."""
    i = db.incidents.c
    has_reply = exists().where(db.outbox.c.incident_id == i.id)
    query = select(i.id).join(db.comments, db.comments.c.id == i.comment_id)
    if platform is not None:
        query = query.where(i.platform == platform)
    row = conn.execute(
        query.where(
            i.status == IncidentStatus.OPEN.value,
            ~has_reply,
            or_(
                i.claimed_by.is_(None),
                i.claimed_by == actor,
                i.claimed_until.is_(None),
                i.claimed_until <= now,
            ),
            or_(i.assignee.is_(None), i.assignee == actor),
            ~in_peoples_hands(now, actor),
        )
        .order_by(db.comments.c.created_at, i.id)
        .limit(1)
    ).first()
    return None if row is None else int(row.id)
