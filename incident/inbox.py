"""Every state change of comments, incidents, cursors, the outbox and source status.

Functions take an open connection inside a transaction (``engine.begin()``) and ``now``; the
caller decides the transaction's extent. ``ingest`` stores a batch's changes and its cursors
together, so a crash at any point either keeps both or neither.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from incident import db
from incident.models import (
    PLATFORM_ACTOR,
    WORKER,
    Batch,
    ChangeKind,
    Comment,
    CommentChange,
    IncidentStatus,
    OutboxStatus,
    Platform,
    SourceState,
)


@dataclass(frozen=True, slots=True)
class Classification:
    topic: str | None
    verdict: Mapping[str, Any] | None
    ruleset_version: str | None


# (comment, the author's earlier texts, newest first) -> classification
Classifier = Callable[[Comment, Sequence[str]], Classification]
# (opened_at, first answer at, due_at) -> the columns stored with the first answer
ResponseFigures = Callable[[datetime, datetime, datetime | None], dict[str, Any]]
HISTORY_LIMIT = 20  # earlier comments per author handed to the classifier (flood detection)
# (comment, seen_at, topic) -> (clock start, due time)
DeadlinePolicy = Callable[[Comment, datetime, str | None], tuple[datetime, datetime | None]]


def calendar_hours(hours: float) -> DeadlinePolicy:
    """The simplest policy: the clock starts at publication and runs ``hours`` calendar hours."""

    def policy(
        comment: Comment, seen_at: datetime, topic: str | None
    ) -> tuple[datetime, datetime | None]:
        return comment.created_at, comment.created_at + timedelta(hours=hours)

    return policy


def no_figures(
    opened_at: datetime, answered_at: datetime, due_at: datetime | None
) -> dict[str, Any]:
    return {}


def no_classification(comment: Comment, history: Sequence[str]) -> Classification:
    return Classification(None, None, None)


@dataclass(slots=True)
class IngestResult:
    stored: int = 0  # new comment rows
    incidents: int = 0  # new incidents opened
    answered: int = 0  # incidents answered directly on the platform
    duplicates: int = 0  # changes already stored (replays, repeated events)
    updated: int = 0  # edits, deletes, restores applied
    follow_ups: int = 0  # comments that joined their author's open incident in the thread

    def add(self, other: IngestResult) -> None:
        self.stored += other.stored
        self.incidents += other.incidents
        self.answered += other.answered
        self.duplicates += other.duplicates
        self.updated += other.updated
        self.follow_ups += other.follow_ups


def _insert(conn: Connection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def ingest(
    conn: Connection,
    source: str,
    batch: Batch,
    now: datetime,
    *,
    deadline: DeadlinePolicy,
    classify: Classifier = no_classification,
    figures: ResponseFigures = no_figures,
) -> IngestResult:
    result = IngestResult()
    pending_new: list[Comment] = []  # consecutive NEW changes, stored together

    def flush() -> None:
        if pending_new:
            _store_new(conn, source, pending_new, now, deadline, classify, result, figures)
            pending_new.clear()

    for change in batch.changes:
        if change.event_id is not None and not _first_sighting(conn, source, change.event_id, now):
            result.duplicates += 1
            continue
        if change.kind is ChangeKind.NEW:
            assert change.comment is not None
            pending_new.append(change.comment)
            continue
        flush()
        if change.kind is ChangeKind.EDIT:
            _apply_edit(conn, source, change, now, deadline, classify, result, figures)
        else:
            _apply_delete_or_restore(conn, source, change, now, deadline, classify, result, figures)
    flush()
    save_cursors(conn, source, batch.cursors, now)
    return result


def _first_sighting(conn: Connection, source: str, event_id: str, now: datetime) -> bool:
    stmt = (
        _insert(conn, db.seen_events)
        .values(source=source, event_id=event_id, seen_at=now)
        .on_conflict_do_nothing()
        .returning(db.seen_events.c.event_id)
    )
    # RETURNING, not rowcount: psycopg reports -1 for a conflicting INSERT ... DO NOTHING.
    return conn.execute(stmt).first() is not None


def _store_new(
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
        _insert(conn, db.comments)
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
        opened_at, due_at = deadline(c, now, verdict.topic)
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
                "opened_at": opened_at,
                "due_at": due_at,
                "created_at": now,
                "updated_at": now,
            }
        )
    opened = conn.execute(
        insert(db.incidents).returning(db.incidents.c.id, db.incidents.c.topic),
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


def _comment_row(conn: Connection, change: CommentChange) -> Any:
    return conn.execute(
        select(db.comments.c.id, db.comments.c.text, db.comments.c.edits, db.comments.c.deleted)
        .where(
            db.comments.c.platform == change.platform.value,
            db.comments.c.community == change.community,
            db.comments.c.external_id == change.external_id,
        )
        .with_for_update()
    ).first()


def _apply_edit(
    conn: Connection,
    source: str,
    change: CommentChange,
    now: datetime,
    deadline: DeadlinePolicy,
    classify: Classifier,
    result: IngestResult,
    figures: ResponseFigures,
) -> None:
    assert change.comment is not None
    row = _comment_row(conn, change)
    if row is None:  # an edit of a comment we never saw: it is new to us
        _store_new(conn, source, [change.comment], now, deadline, classify, result, figures)
        return
    if row.text == change.comment.text:
        result.duplicates += 1
        return
    edits = [*row.edits, {"text": row.text, "replaced_at": now.isoformat()}]
    conn.execute(
        update(db.comments)
        .where(db.comments.c.id == row.id)
        .values(text=change.comment.text, edits=edits, raw=dict(change.comment.raw), updated_at=now)
    )
    incident_id = _incident_of(conn, row.id)
    if incident_id is not None:
        verdict = classify(change.comment, ())
        conn.execute(
            update(db.incidents)
            .where(db.incidents.c.id == incident_id)
            .values(
                topic=verdict.topic,
                verdict=dict(verdict.verdict) if verdict.verdict is not None else None,
                ruleset_version=verdict.ruleset_version,
                updated_at=now,
            )
        )
        audit(conn, now, WORKER, "edited_by_author", incident_id, edits=len(edits))
    result.updated += 1


def _apply_delete_or_restore(
    conn: Connection,
    source: str,
    change: CommentChange,
    now: datetime,
    deadline: DeadlinePolicy,
    classify: Classifier,
    result: IngestResult,
    figures: ResponseFigures,
) -> None:
    deleting = change.kind is ChangeKind.DELETE
    row = _comment_row(conn, change)
    if row is None:
        if not deleting and change.comment is not None:
            _store_new(conn, source, [change.comment], now, deadline, classify, result, figures)
        else:
            result.duplicates += 1  # a delete of something we never stored: nothing to do
        return
    if bool(row.deleted) == deleting:
        result.duplicates += 1
        return
    conn.execute(
        update(db.comments)
        .where(db.comments.c.id == row.id)
        .values(deleted=deleting, updated_at=now)
    )
    result.updated += 1
    incident_id = _incident_of(conn, row.id)
    if incident_id is None:
        return
    if deleting:
        changed = conn.execute(
            update(db.incidents)
            .where(
                db.incidents.c.id == incident_id,
                db.incidents.c.status == IncidentStatus.OPEN.value,
            )
            .values(status=IncidentStatus.CLOSED.value, closed_reason="deleted", updated_at=now)
        ).rowcount
    else:
        changed = conn.execute(
            update(db.incidents)
            .where(
                db.incidents.c.id == incident_id,
                db.incidents.c.status == IncidentStatus.CLOSED.value,
                db.incidents.c.closed_reason == "deleted",
            )
            .values(status=IncidentStatus.OPEN.value, closed_reason=None, updated_at=now)
        ).rowcount
    audit(
        conn,
        now,
        WORKER,
        "deleted_by_author" if deleting else "restored_by_author",
        incident_id,
        status_changed=bool(changed),
    )


def _incident_of(conn: Connection, comment_id: int) -> int | None:
    value: int | None = conn.execute(
        select(db.incidents.c.id).where(db.incidents.c.comment_id == comment_id)
    ).scalar()
    return value


# --- cursors -----------------------------------------------------------------------------


def load_cursors(conn: Connection, source: str) -> dict[str, str]:
    rows = conn.execute(
        select(db.cursors.c.key, db.cursors.c.value).where(db.cursors.c.source == source)
    )
    return {r.key: r.value for r in rows}


def save_cursors(conn: Connection, source: str, values: Mapping[str, str], now: datetime) -> None:
    if not values:
        return
    stmt = _insert(conn, db.cursors)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source", "key"],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
    )
    conn.execute(
        stmt,
        [{"source": source, "key": k, "value": v, "updated_at": now} for k, v in values.items()],
    )


# --- source status -----------------------------------------------------------------------


def record_source_success(
    conn: Connection, source: str, platform: str, now: datetime, *, api_calls: int, swept: bool
) -> None:
    _upsert_status(
        conn,
        source,
        platform,
        now,
        state=SourceState.OK.value,
        last_success_at=now,
        **({"last_sweep_at": now} if swept else {}),
        api_calls_add=api_calls,
    )


def record_source_error(
    conn: Connection, source: str, platform: str, now: datetime, state: SourceState, error: str
) -> None:
    _upsert_status(
        conn, source, platform, now, state=state.value, last_error_at=now, last_error=error[:2000]
    )


def _upsert_status(
    conn: Connection,
    source: str,
    platform: str,
    now: datetime,
    *,
    api_calls_add: int = 0,
    **values: Any,
) -> None:
    stmt = _insert(conn, db.source_status).values(
        source=source, platform=platform, updated_at=now, api_calls=api_calls_add, **values
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["source"],
        set_={
            **{k: stmt.excluded[k] for k in values},
            "updated_at": now,
            "api_calls": db.source_status.c.api_calls + api_calls_add,
        },
    )
    conn.execute(stmt)


def source_states(conn: Connection) -> dict[str, Any]:
    return {r.source: r for r in conn.execute(select(db.source_status))}


# --- outbox ------------------------------------------------------------------------------


class ReplyNotAllowed(Exception):
    """A reply cannot be queued for this incident; the message says why."""


def queue_reply(
    conn: Connection,
    incident_id: int,
    text: str,
    actor: str,
    now: datetime,
    kind: str | None = None,
) -> int:
    """Queue a public reply for the worker to post. ``kind``: answer, move-to-private,
    redirect, thanks, clarify (counted by the statistics)."""
    text = text.strip()
    if not text:
        raise ReplyNotAllowed("the reply is empty")
    row = conn.execute(
        select(db.incidents.c.source, db.incidents.c.status)
        .where(db.incidents.c.id == incident_id)
        .with_for_update()
    ).first()
    if row is None:
        raise ReplyNotAllowed(f"no incident {incident_id}")
    if row.status != IncidentStatus.OPEN.value:
        # Answered or closed: a citizen who writes again gets a new incident to answer.
        raise ReplyNotAllowed(f"incident {incident_id} is {row.status}; it needs no reply")
    in_flight = conn.execute(
        select(func.count())
        .select_from(db.outbox)
        .where(
            db.outbox.c.incident_id == incident_id,
            db.outbox.c.status.in_([OutboxStatus.PENDING.value, OutboxStatus.SENDING.value]),
        )
    ).scalar_one()
    if in_flight:
        raise ReplyNotAllowed(f"incident {incident_id} already has a reply waiting to be sent")
    outbox_id: int = conn.execute(
        insert(db.outbox)
        .values(
            incident_id=incident_id,
            source=row.source,
            text=text,
            kind=kind,
            status=OutboxStatus.PENDING.value,
            created_by=actor,
            created_at=now,
            attempts=0,
            next_attempt_at=now,
            updated_at=now,
        )
        .returning(db.outbox.c.id)
    ).scalar_one()
    audit(conn, now, actor, "reply_queued", incident_id, outbox_id=outbox_id)
    return outbox_id


@dataclass(frozen=True, slots=True)
class ClaimedReply:
    outbox_id: int
    incident_id: int
    source: str
    text: str
    attempts: int
    created_by: str
    community: str
    post_id: str
    reply_to_id: str

    @property
    def idempotency_key(self) -> str:
        # Stable for the row's whole life: a resend after a crash carries the same key, and
        # the platform (VK's guid) refuses to post it twice.
        return f"incident-outbox-{self.outbox_id}"


def _claimable(now: datetime) -> Any:
    return or_(
        and_(
            db.outbox.c.status == OutboxStatus.PENDING.value,
            db.outbox.c.next_attempt_at <= now,
        ),
        and_(db.outbox.c.status == OutboxStatus.SENDING.value, db.outbox.c.lease_until < now),
    )


def claim_reply(
    conn: Connection,
    worker: str,
    now: datetime,
    lease: timedelta,
    sources: Sequence[str] | None = None,
) -> ClaimedReply | None:
    """Claim the oldest due reply with a conditional UPDATE; None if there is none or we lost."""
    query = select(db.outbox.c.id).where(_claimable(now)).order_by(db.outbox.c.id).limit(1)
    if sources is not None:
        query = query.where(db.outbox.c.source.in_(list(sources)))
    candidate = conn.execute(query).scalar()
    if candidate is None:
        return None
    won = conn.execute(
        update(db.outbox)
        .where(db.outbox.c.id == candidate, _claimable(now))
        .values(
            status=OutboxStatus.SENDING.value,
            claimed_by=worker,
            lease_until=now + lease,
            attempts=db.outbox.c.attempts + 1,
            updated_at=now,
        )
    ).rowcount
    if won != 1:
        return None
    row = conn.execute(
        select(
            db.outbox.c.id,
            db.outbox.c.incident_id,
            db.outbox.c.source,
            db.outbox.c.text,
            db.outbox.c.attempts,
            db.outbox.c.created_by,
            db.comments.c.community,
            db.comments.c.post_id,
            db.comments.c.external_id,
        )
        .join(db.incidents, db.incidents.c.id == db.outbox.c.incident_id)
        .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
        .where(db.outbox.c.id == candidate)
    ).one()
    return ClaimedReply(
        outbox_id=row.id,
        incident_id=row.incident_id,
        source=row.source,
        text=row.text,
        attempts=row.attempts,
        created_by=row.created_by,
        community=row.community,
        post_id=row.post_id,
        reply_to_id=row.external_id,
    )


def mark_posted(
    conn: Connection,
    claim: ClaimedReply,
    worker: str,
    external_id: str,
    url: str | None,
    now: datetime,
    figures: ResponseFigures = no_figures,
) -> bool:
    """Record the platform's acceptance. False if our lease was lost to another worker
    (who will resend with the same idempotency key and record the same comment)."""
    done = conn.execute(
        update(db.outbox)
        .where(
            db.outbox.c.id == claim.outbox_id,
            db.outbox.c.status == OutboxStatus.SENDING.value,
            db.outbox.c.claimed_by == worker,
        )
        .values(
            status=OutboxStatus.POSTED.value,
            posted_external_id=external_id,
            posted_url=url,
            posted_at=now,
            lease_until=None,
            last_error=None,
            updated_at=now,
        )
    ).rowcount
    if done != 1:
        return False
    row = conn.execute(
        select(
            db.incidents.c.first_response_at,
            db.incidents.c.opened_at,
            db.incidents.c.due_at,
            db.comments.c.external_id.label("answer_external_id"),
        )
        .outerjoin(db.comments, db.comments.c.id == db.incidents.c.answer_comment_id)
        .where(db.incidents.c.id == claim.incident_id)
    ).one()
    if row.first_response_at is None:
        conn.execute(
            update(db.incidents)
            .where(db.incidents.c.id == claim.incident_id)
            .values(
                status=IncidentStatus.ANSWERED.value,
                first_response_at=now,
                first_response_by=claim.created_by,
                updated_at=now,
                **figures(row.opened_at, now, row.due_at),
            )
        )
    elif row.answer_external_id == external_id:
        # Our reply came back through the platform before we recorded it, and was taken for
        # an answer typed in VK: it is this person's answer.
        conn.execute(
            update(db.incidents)
            .where(db.incidents.c.id == claim.incident_id)
            .values(first_response_by=claim.created_by, updated_at=now)
        )
    audit(
        conn,
        now,
        WORKER,
        "reply_posted",
        claim.incident_id,
        outbox_id=claim.outbox_id,
        comment=external_id,
        by=claim.created_by,
    )
    return True


def mark_reply_failed(
    conn: Connection, claim: ClaimedReply, worker: str, reason: str, now: datetime
) -> None:
    conn.execute(
        update(db.outbox)
        .where(db.outbox.c.id == claim.outbox_id, db.outbox.c.claimed_by == worker)
        .values(
            status=OutboxStatus.FAILED.value,
            last_error=reason[:2000],
            lease_until=None,
            updated_at=now,
        )
    )
    audit(
        conn,
        now,
        WORKER,
        "reply_failed",
        claim.incident_id,
        outbox_id=claim.outbox_id,
        reason=reason[:500],
    )


def reschedule_reply(
    conn: Connection, claim: ClaimedReply, worker: str, reason: str, at: datetime, now: datetime
) -> None:
    conn.execute(
        update(db.outbox)
        .where(db.outbox.c.id == claim.outbox_id, db.outbox.c.claimed_by == worker)
        .values(
            status=OutboxStatus.PENDING.value,
            next_attempt_at=at,
            last_error=reason[:2000],
            lease_until=None,
            claimed_by=None,
            updated_at=now,
        )
    )


def retry_failed_reply(conn: Connection, outbox_id: int, actor: str, now: datetime) -> bool:
    row = conn.execute(
        update(db.outbox)
        .where(db.outbox.c.id == outbox_id, db.outbox.c.status == OutboxStatus.FAILED.value)
        .values(status=OutboxStatus.PENDING.value, next_attempt_at=now, attempts=0, updated_at=now)
        .returning(db.outbox.c.incident_id)
    ).first()
    if row is None:
        return False
    audit(conn, now, actor, "reply_retry", row.incident_id, outbox_id=outbox_id)
    return True


# --- audit -------------------------------------------------------------------------------


def audit(
    conn: Connection,
    now: datetime,
    actor: str,
    action: str,
    incident_id: int | None = None,
    **details: Any,
) -> None:
    conn.execute(
        insert(db.audit_events).values(
            at=now, actor=actor, incident_id=incident_id, action=action, details=details
        )
    )


# --- reading -----------------------------------------------------------------------------


def open_incidents(conn: Connection, limit: int = 50) -> list[Any]:
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


def reclassify_open(
    conn: Connection,
    classify: Classifier,
    version: str,
    now: datetime,
    *,
    everything: bool = False,
) -> tuple[int, int]:
    """Classify open incidents again under rule set ``version`` (only those classified under
    another version unless ``everything``). Deadlines stay as they were. Returns (checked,
    topic changed)."""
    query = (
        select(
            db.incidents.c.id,
            db.incidents.c.topic,
            db.comments.c.platform,
            db.comments.c.community,
            db.comments.c.post_id,
            db.comments.c.external_id,
            db.comments.c.author_id,
            db.comments.c.text,
            db.comments.c.created_at,
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
        )
        verdict = classify(comment, ())
        conn.execute(
            update(db.incidents)
            .where(db.incidents.c.id == row.id)
            .values(
                topic=verdict.topic,
                verdict=dict(verdict.verdict) if verdict.verdict is not None else None,
                ruleset_version=verdict.ruleset_version,
                updated_at=now,
            )
        )
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
            )
    return checked, changed


# --- source leases -------------------------------------------------------------------------


def hold_source(conn: Connection, source: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease on polling ``source`` until ``now + ttl``. True if ``owner``
    holds it now: it was free, expired, or already ``owner``'s. One statement, so two workers
    asking at once cannot both win."""
    stmt = _insert(conn, db.source_leases).values(
        source=source, owner=owner, lease_until=now + ttl, updated_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["source"],
        set_={
            "owner": stmt.excluded.owner,
            "lease_until": stmt.excluded.lease_until,
            "updated_at": stmt.excluded.updated_at,
        },
        where=or_(
            db.source_leases.c.owner == owner,
            db.source_leases.c.lease_until < now,
        ),
    ).returning(db.source_leases.c.owner)
    return conn.execute(stmt).first() is not None


def release_source(conn: Connection, source: str, owner: str) -> None:
    conn.execute(
        delete(db.source_leases).where(
            db.source_leases.c.source == source, db.source_leases.c.owner == owner
        )
    )
