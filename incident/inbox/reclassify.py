"""Reclassification: open incidents classified again after a change of the rules, their
deadlines recomputed when the new topic's policy gives another one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select, update

from incident import db
from incident.inbox.audit import audit
from incident.inbox.contracts import Classifier, DeadlinePolicy, DueTimes
from incident.models import WORKER, Comment, IncidentStatus, Platform


def reclassify_open(
    conn: Connection,
    classify: Classifier,
    version: str,
    now: datetime,
    *,
    deadline: DeadlinePolicy,
    everything: bool = False,
) -> tuple[int, int]:
    """Classify open incidents again under rule set ``version`` (only those classified under
    another version unless ``everything``). Returns (checked, topic changed).

    When the topic or the urgent flag changes, the incident's deadline is asked of ``deadline``
    again (the same policy ingest uses, with the comment's own published and seen times, so a
    topic with another SLA policy, or a comment now urgent, gets that policy's ``due_at`` and
    ``warn_at``; ``opened_at`` is kept).
    If they differ from the stored ones, both are replaced, and a warning mark that no longer
    holds is reset so the SLA step announces it again at the right time: ``warned_at`` when the
    new warning moment is later than it, ``breach_notified_at`` when the new ``due_at`` is not
    before it. A deadline that moved earlier keeps its marks (what was announced is still true
    or will be caught by the next run). The topic change is audited ("reclassified") with the
    old and new deadline when it moved.
    """
    query = (
        select(
            db.incidents.c.id,
            db.incidents.c.topic,
            db.incidents.c.urgent,
            db.incidents.c.due_at,
            db.incidents.c.warn_at,
            db.incidents.c.warned_at,
            db.incidents.c.breach_notified_at,
            db.comments.c.platform,
            db.comments.c.community,
            db.comments.c.post_id,
            db.comments.c.external_id,
            db.comments.c.author_id,
            db.comments.c.author_name,
            db.comments.c.text,
            db.comments.c.created_at,
            db.comments.c.seen_at,
            db.comments.c.from_community,
            db.comments.c.reply_to_id,
            db.comments.c.thread_root_id,
        )
        .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
        .where(db.incidents.c.status == IncidentStatus.OPEN.value)
        .order_by(db.incidents.c.id)
    )
    if not everything:
        query = query.where(
            or_(
                db.incidents.c.ruleset_version.is_(None),
                db.incidents.c.ruleset_version != version,
            )
        )
    checked = changed = 0
    for row in conn.execute(query).all():
        comment = Comment(
            platform=Platform(row.platform),
            community=row.community,
            post_id=row.post_id,
            external_id=row.external_id,
            author_id=row.author_id,
            text=row.text,
            created_at=row.created_at,
            author_name=row.author_name,
            from_community=row.from_community,
            reply_to_id=row.reply_to_id,
            thread_root_id=row.thread_root_id,
        )
        verdict = classify(comment, ())
        values: dict[str, Any] = {
            "topic": verdict.topic,
            "verdict": dict(verdict.verdict) if verdict.verdict is not None else None,
            "ruleset_version": verdict.ruleset_version,
            "urgent": verdict.urgent,
            "updated_at": now,
        }
        moved: dict[str, Any] = {}
        if verdict.topic != row.topic or verdict.urgent != row.urgent:
            times = deadline(comment, row.seen_at, verdict.topic, verdict.urgent)
            if (times.due_at, times.warn_at) != (row.due_at, row.warn_at):
                values |= _new_deadline(row, times)
                moved = {
                    "due_at": _iso(times.due_at),
                    "was_due_at": _iso(row.due_at),
                }
        conn.execute(update(db.incidents).where(db.incidents.c.id == row.id).values(**values))
        checked += 1
        if verdict.topic != row.topic:
            changed += 1
            audit(
                conn,
                now,
                WORKER,
                "reclassified",
                row.id,
                topic=verdict.topic,
                was=row.topic,
                rules=version,
                **moved,
            )
    return checked, changed


def _new_deadline(row: Any, times: DueTimes) -> dict[str, Any]:
    """The columns to write for a recomputed deadline, with the marks that no longer hold."""
    values: dict[str, Any] = {"due_at": times.due_at, "warn_at": times.warn_at}
    warn_from = (
        min(times.warn_at, times.due_at)
        if times.warn_at is not None and times.due_at is not None
        else times.warn_at or times.due_at
    )
    if row.warned_at is not None and (warn_from is None or warn_from > row.warned_at):
        values["warned_at"] = None
    if row.breach_notified_at is not None and (
        times.due_at is None or times.due_at >= row.breach_notified_at
    ):
        values["breach_notified_at"] = None
    return values


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
