"""New comments: store them, open incidents (or join a follow-up to its author's open one),
and record the community's own comments as answers. Called by ``ingest`` only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, insert, or_, select, update

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


class NewComment(NamedTuple):
    """A new comment to store, the source it came from and the result its batch counts in."""

    source: str
    comment: Comment
    result: IngestResult


def store_new(
    conn: Connection,
    items: Sequence[NewComment],
    now: datetime,
    deadline: DeadlinePolicy,
    classify: Classifier,
    figures: ResponseFigures,
) -> None:
    """Store new comments, of one source or several, in a few statements (comments, the
    authors' earlier texts, incidents, audit events, the repeat step's list) whatever their
    number; then let the community's own comments answer what they reply to, in order."""
    by_key: dict[tuple[str, str, str], NewComment] = {}
    for item in items:
        c = item.comment
        by_key[(c.platform.value, c.community, c.external_id)] = item
    stmt = (
        upsert(conn, db.comments)
        .on_conflict_do_nothing(index_elements=["platform", "community", "external_id"])
        .returning(
            db.comments.c.id,
            db.comments.c.platform,
            db.comments.c.community,
            db.comments.c.external_id,
        )
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
        for c in (item.comment for item in by_key.values())
    ]
    stored = {(r.platform, r.community, r.external_id): r.id for r in conn.execute(stmt, rows)}
    counted: set[tuple[str, str, str]] = set()
    for item in items:  # a comment stored now counts once; its repeats, and the known, are dups
        c = item.comment
        key = (c.platform.value, c.community, c.external_id)
        if key in stored and key not in counted:
            counted.add(key)
            item.result.stored += 1
        else:
            item.result.duplicates += 1
    # In order: top-level citizen comments are opened in bulk; a community comment (an answer)
    # or a citizen's reply inside a thread is handled on its own, after what precedes it.
    run: list[tuple[NewComment, int]] = []

    def flush() -> None:
        _open_incidents(conn, run, now, deadline, classify)
        run.clear()

    for key, item in by_key.items():
        comment_id = stored.get(key)
        if comment_id is None:
            continue
        c = item.comment
        if not c.from_community and c.thread_root_id is None:
            run.append((item, comment_id))
            continue
        flush()
        if c.from_community:
            if _record_platform_answer(conn, c, comment_id, now, figures):
                item.result.answered += 1
        else:
            _open_or_follow_up(conn, item, comment_id, now, deadline, classify)
    flush()


def _open_incidents(
    conn: Connection,
    comments: Sequence[tuple[NewComment, int]],
    now: datetime,
    deadline: DeadlinePolicy,
    classify: Classifier,
) -> list[int]:
    if not comments:
        return []
    incident_rows: list[dict[str, Any]] = []
    # the authors' earlier texts matter only to a classifier (its flood check)
    histories = (
        {}
        if classify is no_classification
        else _author_histories(conn, [item.comment for item, _ in comments])
    )
    for item, comment_id in comments:
        c = item.comment
        verdict = classify(c, histories.get(_history_key(c), ()))
        times = deadline(c, now, verdict.topic, verdict.urgent)
        incident_rows.append(
            {
                "comment_id": comment_id,
                "platform": c.platform.value,
                "community": c.community,
                "source": item.source,
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
    # RETURNING in any order (a sorted one costs SQLite a statement per row): matched by comment
    returned = conn.execute(
        insert(db.incidents).returning(
            db.incidents.c.id, db.incidents.c.topic, db.incidents.c.comment_id
        ),
        incident_rows,
    ).all()
    by_comment = {r.comment_id: r for r in returned}
    opened = [(by_comment[comment_id], item) for item, comment_id in comments]
    conn.execute(
        insert(db.audit_events),
        [
            {
                "at": now,
                "actor": WORKER,
                "incident_id": r.id,
                "action": "opened",
                "details": {"source": item.source, "topic": r.topic},
            }
            for r, item in opened
        ],
    )
    for item, _ in comments:
        item.result.incidents += 1
    ids = [r.id for r, _ in opened]
    note_opened(conn, ids)
    return ids


def _history_key(c: Comment) -> tuple[str, str, str, str]:
    return (c.platform.value, c.community, c.author_id, c.external_id)


def _author_histories(
    conn: Connection, comments: Sequence[Comment]
) -> dict[tuple[str, str, str, str], list[str]]:
    """Each comment's author's earlier texts in its community, newest first (up to
    ``HISTORY_LIMIT``), in one query whatever the number of communities."""
    comments = [c for c in comments if not c.from_community]
    if not comments:
        return {}
    per_author = Counter((c.platform.value, c.community, c.author_id) for c in comments)
    cc = db.comments.c
    newest = (
        func.row_number()
        .over(partition_by=(cc.platform, cc.community, cc.author_id), order_by=cc.id.desc())
        .label("n")
    )
    ranked = (
        select(cc.platform, cc.community, cc.author_id, cc.external_id, cc.text, newest)
        .where(
            cc.platform.in_({c.platform.value for c in comments}),
            cc.author_id.in_({c.author_id for c in comments}),
            cc.community.in_({c.community for c in comments}),
        )
        .subquery()
    )
    # an author's comments of this group may be among the newest: read that many more
    rows = conn.execute(
        select(
            ranked.c.platform,
            ranked.c.community,
            ranked.c.author_id,
            ranked.c.external_id,
            ranked.c.text,
        )
        .where(ranked.c.n <= HISTORY_LIMIT + max(per_author.values()))
        .order_by(ranked.c.platform, ranked.c.community, ranked.c.author_id, ranked.c.n)
    ).all()
    by_author: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for r in rows:
        key = (r.platform, r.community, r.author_id)
        if key in per_author:  # the IN lists also match other pairings of the same values
            by_author.setdefault(key, []).append((r.external_id, r.text))
    result: dict[tuple[str, str, str, str], list[str]] = {}
    for c in comments:
        texts = by_author.get((c.platform.value, c.community, c.author_id), [])
        # newest first: skip this comment and anything stored after it
        ids = [x for x, _ in texts]
        later = ids.index(c.external_id) + 1 if c.external_id in ids else 0
        result[_history_key(c)] = [t for _, t in texts[later:]][:HISTORY_LIMIT]
    return result


def _open_or_follow_up(
    conn: Connection,
    item: NewComment,
    comment_id: int,
    now: datetime,
    deadline: DeadlinePolicy,
    classify: Classifier,
) -> None:
    """A citizen's comment inside a thread. If the same author already has an incident in this
    thread that is still open, this is a follow-up: it joins that incident and its clock. If
    that incident was answered (or closed), the follow-up opens a new incident with a new
    clock. Otherwise (someone else's thread) it is an incident of its own."""
    c = item.comment
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
        item.result.follow_ups += 1
        return
    (incident_id,) = _open_incidents(conn, [(item, comment_id)], now, deadline, classify)
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
