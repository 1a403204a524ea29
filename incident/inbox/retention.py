"""Retention: personal data of finished incidents is removed after the configured months.

What goes: the comment's text, its earlier versions, the author's name and id, the platform's
raw payload; the incident's verdict (it quotes the text); its replies' texts and staff notes;
the comment a citizen left with the reply's rating (the score stays).
What stays: every field the statistics read (times, topic, status, answer figures, who
answered), the audit log (it records actions, never texts), and the comment's ids, so the
comment is still recognised and never stored again.

Only comments written before the cutoff whose incident is finished (answered or closed) go, and
the comments with no incident of their own (follow-ups, the community's answers) written
before it. A comment of an incident still open keeps everything.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, exists, not_, select, update

from incident import db
from incident.models import IncidentStatus, OutboxStatus

REMOVED = "[удалено по сроку хранения]"


def remove_personal_data(conn: Connection, cutoff: datetime, now: datetime) -> int:
    """Remove the personal data of finished incidents' comments written before ``cutoff``
    (see the module's docstring); returns how many comments lost theirs. Repeating it does
    nothing more."""
    c, i = db.comments.c, db.incidents.c
    open_incident = exists().where(i.comment_id == c.id, i.status == IncidentStatus.OPEN.value)
    due = (
        select(c.id)
        .where(c.created_at < cutoff, c.text != REMOVED, not_(open_incident))
        .scalar_subquery()
    )
    ids = [int(x) for x in conn.execute(select(c.id).where(c.id.in_(due))).scalars()]
    removed = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        removed += conn.execute(
            update(db.comments)
            .where(c.id.in_(chunk))
            .values(text=REMOVED, author_name=None, author_id="", edits=[], raw={}, updated_at=now)
        ).rowcount
        incidents = select(i.id).where(i.comment_id.in_(chunk)).scalar_subquery()
        conn.execute(update(db.incidents).where(i.id.in_(incidents)).values(verdict=None))
        conn.execute(  # never a reply still to be sent: it would go out with this text
            update(db.outbox)
            .where(
                db.outbox.c.incident_id.in_(incidents),
                db.outbox.c.status.in_((OutboxStatus.POSTED.value, OutboxStatus.FAILED.value)),
            )
            .values(text=REMOVED)
        )
        conn.execute(
            update(db.notes).where(db.notes.c.incident_id.in_(incidents)).values(text=REMOVED)
        )
        conn.execute(  # the citizen's comment on the reply's rating; the score stays
            update(db.rating_links)
            .where(
                db.rating_links.c.incident_id.in_(incidents),
                db.rating_links.c.comment.is_not(None),
            )
            .values(comment=REMOVED)
        )
    return removed


def is_removed(text: str | None) -> bool:
    """Whether ``text`` is what retention left in place of a comment's text."""
    return text == REMOVED
