"""New comments: store them, open incidents (or join a follow-up to its author's open one),
and record the community's own comments as answers. Called by ``ingest`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from incident import db
from incident.inbox._sql import upsert
from incident.inbox.audit import audit
from incident.inbox.contracts import (
    Classifier,
    DeadlinePolicy,
    IngestResult,
    ResponseFigures,
    no_classification,
)
from incident.inbox.repeats import note_opened
from incident.models import PLATFORM_ACTOR, WORKER, Comment, IncidentStatus

HISTORY_LIMIT = 20  # earlier comments per author handed to the classifier (flood detection)


def store_new(
    conn: Connection,
    source: str,
    comments: Sequence[Comment],
    now: datetime,
    deadline: DeadlinePolicy,
    classify: Classifier,
    result: IngestResult,
    figures: ResponseFigures,
) -> None:
    """Store new comments in three statements (comments, incidents, audit events), whatever
    their number; then let the community's own comments answer what they reply to, in order."""
    by_key = {c.external_id: c for c in comments}
    stmt = (
        upsert(conn, db.comments)
        .on_conflict_do_nothing(index_elements=["platform", "community", "external_id"])
        .returning(db.comments.c.id, db.comments.c.external_id)
    )
    rows: list[dict[str, Any]] = [
        {
            "platform": c.platform.value,
            "community": c.community,
            "post_id": c.post_id,
            "external_id": c.external_id,
            "author_id": c.author_id,
            "author_name": c.author_name,
            "text": c.text,
            "created_at": c.created_at,
            "seen_at": now,
            "from_community": c.from_community,
            "reply_to_id": c.reply_to_id,
            "thread_root_id": c.thread_root_id,
            "deleted": False,
            "edits": [],
            "raw": dict(c.raw),
            "updated_at": now,
        }
        for c in by_key.values()
    ]
    stored = {r.external_id: r.id for r in conn.execute(stmt, rows)}
    result.duplicates += len(comments) - len(stored)
    result.stored += len(stored)
    # In batch order: top-level citizen comments are opened in bulk; a community comment (an
    # answer) or a citizen's reply inside a thread is handled on its own, after what precedes it.
    run: list[tuple[Comment, int]] = []

    def flush() -> None:
        _open_incidents(conn, source, run, now, deadline, classify, result)
        run.clear()

    for c in by_key.values():
        comment_id = stored.get(c.external_id)
        if comment_id is None:
            continue
        if not c.from_community and c.thread_root_id is None:
            run.append((c, comment_id))
            continue
        flush()
        if c.from_community:
            if _record_platform_answer(conn, c, comment_id, now, figures):
                result.answered += 1
        else:
            _open_or_follow_up(conn, source, c, comment_id, now, deadline, classify, result)
    flush()


def _open_incidents(
    conn: Connection,
    source: str,
    comments: Sequence[tuple[Comment, int]],
    now: datetime,
    deadline: DeadlinePolicy,
    classify: Classifier,
    result: IngestResult,
) -> list[int]:
    if not comments:
        return []
    incident_rows: list[dict[str, Any]] = []
    # the authors' earlier texts matter only to a classifier (its flood check)
    histories = (
        {} if classify is no_classification else _author_histories(conn, [c for c, _ in comments])
    )
    for c, comment_id in comments:
        verdict = classify(c, histories.get((c.author_id, c.external_id), ()))
        times = deadline(c, now, verdict.topic, verdict.urgent)
        incident_rows.append(
            {
                "comment_id": comment_id,
                "platform": c.platform.value,
                "community": c.community,
                "source": source,
                "status": IncidentStatus.OPEN.value,
                "topic": verdict.topic,
                "verdict": dict(verdict.verdict) if verdict.verdict is not None else None,
                "ruleset_version": verdict.ruleset_version,
                "urgent": verdict.urgent,
                "opened_at": times.opened_at,
                "due_at": times.due_at,
                "warn_at": times.warn_at,
                "created_at": now,
                "updated_at": now,
            }
        )
    opened = conn.execute(
        insert(db.incidents).returning(
            db.incidents.c.id, db.incidents.c.topic, sort_by_parameter_order=True
        ),
        incident_rows,
    ).all()
    conn.execute(
        insert(db.audit_events),
        [
            {
                "at": now,
                "actor": WORKER,
                "incident_id": r.id,
                "action": "opened",
                "details": {"source": source, "topic": r.topic},
            }
            for r in opened
        ],
    )
    result.incidents += len(opened)
    note_opened(conn, [r.id for r in opened])
    return [r.id for r in opened]


def _author_histories(
    conn: Connection, comments: Sequence[Comment]
) -> dict[tuple[str, str], list[str]]:
    """Each comment's author's earlier texts in this community, newest first, in one query."""
    if not comments or comments[0].from_community:
        return {}
    first = comments[0]
    authors = {c.author_id for c in comments}
    rows = conn.execute(
        select(db.comments.c.author_id, db.comments.c.external_id, db.comments.c.text)
        .where(
            db.comments.c.platform == first.platform.value,
            db.comments.c.community == first.community,
            db.comments.c.author_id.in_(authors),
        )
        .order_by(db.comments.c.id.desc())
        .limit(HISTORY_LIMIT * len(authors) + len(comments))
    ).all()
    by_author: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        by_author.setdefault(r.author_id, []).append((r.external_id, r.text))
    result: dict[tuple[str, str], list[str]] = {}
    for c in comments:
        texts = by_author.get(c.author_id, [])
        # newest first: skip this comment and anything stored after it
        ids = [x for x, _ in texts]
        later = ids.index(c.external_id) + 1 if c.external_id in ids else 0
        result[(c.author_id, c.external_id)] = [t for _, t in texts[later:]][:HISTORY_LIMIT]
    return result


def _open_or_follow_up(
    conn: Connection,
    source: str,
    c: Comment,
    comment_id: int,
    now: datetime,
    deadline: DeadlinePolicy,
    classify: Classifier,
    result: IngestResult,
) -> None:
    """A citizen's comment inside a thread. If the same author already has an incident in this
    thread that is still open, this is a follow-up: it joins that incident and its clock. If
    that incident was answered (or closed), the follow-up opens a new incident with a new
    clock. Otherwise (someone else's thread) it is an incident of its own."""
    previous = conn.execute(
        select(db.incidents.c.id, db.incidents.c.status)
        .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
        .where(
            db.comments.c.platform == c.platform.value,
            db.comments.c.community == c.community,
            db.comments.c.author_id == c.author_id,
            or_(
                db.comments.c.external_id == c.thread_root_id,
                db.comments.c.thread_root_id == c.thread_root_id,
            ),
        )
        .order_by(db.incidents.c.id.desc())
        .limit(1)
    ).first()
    if previous is not None and previous.status == IncidentStatus.OPEN.value:
        audit(conn, now, WORKER, "follow_up", previous.id, comment=c.external_id)
        result.follow_ups += 1
        return
    (incident_id,) = _open_incidents(
        conn, source, [(c, comment_id)], now, deadline, classify, result
    )
    if previous is not None:
        audit(conn, now, WORKER, "reopened_by_follow_up", incident_id, previous=previous.id)


def _record_platform_answer(
    conn: Connection, c: Comment, answer_id: int, now: datetime, figures: ResponseFigures
) -> bool:
    """A comment by the community itself answers the comment it replies to (or its thread root)."""
    targets = [t for t in (c.reply_to_id, c.thread_root_id) if t]
    for target in targets:
        row = conn.execute(
            select(
                db.incidents.c.id,
                db.incidents.c.status,
                db.incidents.c.first_response_at,
                db.incidents.c.opened_at,
                db.incidents.c.due_at,
            )
            .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
            .where(
                db.comments.c.platform == c.platform.value,
                db.comments.c.community == c.community,
                db.comments.c.external_id == target,
            )
        ).first()
        if row is None:
            continue
        if row.first_response_at is not None:
            return False  # already answered (e.g. our own outbox reply coming back)
        by = _outbox_author(conn, row.id, c.external_id) or PLATFORM_ACTOR
        conn.execute(
            update(db.incidents)
            .where(db.incidents.c.id == row.id)
            .values(
                status=IncidentStatus.ANSWERED.value
                if row.status == IncidentStatus.OPEN.value
                else row.status,
                first_response_at=c.created_at,
                first_response_by=by,
                answer_comment_id=answer_id,
                updated_at=now,
                **figures(row.opened_at, c.created_at, row.due_at),
            )
        )
        audit(conn, now, by, "answered", row.id, comment=c.external_id, via="platform")
        return True
    return False


def _outbox_author(conn: Connection, incident_id: int, external_id: str) -> str | None:
    author: str | None = conn.execute(
        select(db.outbox.c.created_by).where(
            db.outbox.c.incident_id == incident_id,
            db.outbox.c.posted_external_id == external_id,
        )
    ).scalar()
    return author
