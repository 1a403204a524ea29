"""Ingest: turn a source's batch of comment changes into stored comments and incidents.

New comments go through ``new_comments``; edits, deletes and restores by their authors are
applied here. Functions take an open connection inside a transaction and ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from incident import db
from incident.inbox._sql import upsert
from incident.inbox.audit import audit
from incident.inbox.contracts import (
    Classifier,
    DeadlinePolicy,
    IngestResult,
    ResponseFigures,
    no_classification,
    no_figures,
)
from incident.inbox.new_comments import NewComment, store_new
from incident.inbox.retention import is_removed
from incident.inbox.sources import save_cursors_of
from incident.inbox.storable import storable_batch
from incident.models import (
    WORKER,
    Batch,
    ChangeKind,
    CommentChange,
    IncidentStatus,
    PostSnapshot,
)

SEEN_CHUNK = 1000  # event ids recorded per statement (SQLite allows 32,766 parameters)


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
    """Store ``batch`` from ``source`` and its cursors, in the caller's transaction.

    The centre of the flow. Promises:

    * **One transaction.** Nothing is committed here: the comments, incidents, answers, audit
      events and the batch's cursors are written on ``conn``, so the caller's commit keeps all
      of them and a crash or rollback keeps none (the next sweep resumes from the old cursors).
    * **Exactly once.** A change whose ``event_id`` was seen before, a comment already stored
      (unique on platform, community, comment id), an edit to the same text, a delete of a
      deleted comment: each is counted as a duplicate and changes nothing. Replaying a batch,
      whole or in part, is harmless.
    * **In order.** Changes are applied in batch order; consecutive new comments are stored
      together (a few statements per run, whatever its length), and a community comment answers
      only what precedes it.
    * New citizen comments open an incident each, classified by ``classify`` (given the
      author's earlier texts) with its clock from ``deadline`` (``opened_at``, ``due_at`` and
      ``warn_at`` stored together); a citizen's comment in a thread where the same author's
      incident is still open joins it instead (a follow-up; the clock does not restart). A
      comment by the community answers the incident it replies to: status ``answered``, the
      first answer's time and author, and the ``figures`` for it. An edit reclassifies the
      incident (its deadline is kept), or with the same text fills in an author's name that was
      missing; a delete closes an open incident ("deleted"), a restore
      reopens it.

    * **Storable.** NUL and lone surrogates, which a database refuses, become U+FFFD
      (``storable``): one comment never blocks the ones after it.

    * **Snapshots** (a full sweep's complete reading of a post) come after the changes: a
      stored comment the post no longer shows is deleted, a deleted one it shows is restored.

    The result counts: ``stored`` new comment rows, ``updated`` edits/deletes/restores applied
    (those from snapshots too), ``duplicates`` changes that changed nothing (stored, updated by
    changes and duplicates add up to the batch's changes);
    of the stored comments, ``incidents`` opened one, ``follow_ups`` joined one, ``answered``
    answered one.
    """
    return ingest_group(
        conn, [(source, batch)], now, deadline=deadline, classify=classify, figures=figures
    )[0]


def ingest_group(
    conn: Connection,
    items: Sequence[tuple[str, Batch]],
    now: datetime,
    *,
    deadline: DeadlinePolicy,
    classify: Classifier = no_classification,
    figures: ResponseFigures = no_figures,
) -> list[IngestResult]:
    """``ingest`` for several sources' batches at once, in the caller's transaction: one result
    per item, in order, each as ``ingest`` would give it for that batch alone.

    The statements are shared: the group's event ids are recorded in one statement, its
    consecutive new comments stored together whatever their source (a few statements for the
    lot), and its cursors saved in one. A group of live listeners' rounds costs about as many
    round trips as one of them did. Changes are applied in the items' order, so two batches
    of one source keep theirs; a batch's snapshots come right after its changes."""
    batches = [(source, storable_batch(batch)) for source, batch in items]
    results = [IngestResult() for _ in batches]
    pending_new: list[NewComment] = []  # consecutive NEW changes, stored together

    def flush() -> None:
        if pending_new:
            store_new(conn, pending_new, now, deadline, classify, figures)
            pending_new.clear()

    first = _first_sightings(conn, batches, now)
    for (source, batch), result in zip(batches, results, strict=True):
        for change in batch.changes:
            if change.event_id is not None and not first.pop((source, change.event_id), False):
                result.duplicates += 1  # seen in an earlier batch, or earlier in this one
                continue
            if change.kind is ChangeKind.NEW:
                assert change.comment is not None
                pending_new.append(NewComment(source, change.comment, result))
                continue
            flush()
            if change.kind is ChangeKind.EDIT:
                _apply_edit(conn, source, change, now, deadline, classify, result, figures)
            else:
                _apply_delete_or_restore(
                    conn, source, change, now, deadline, classify, result, figures
                )
        if batch.snapshots:
            flush()
            for snapshot in batch.snapshots:
                result.updated += _apply_snapshot(conn, snapshot, now)
    flush()
    save_cursors_of(conn, [(source, batch.cursors) for source, batch in batches], now)
    return results


def _first_sightings(
    conn: Connection, batches: Sequence[tuple[str, Batch]], now: datetime
) -> dict[tuple[str, str], bool]:
    """Record the batches' event ids as seen, in one statement (a few for thousands); the
    (source, event id) pairs seen for the first time, each mapped to True (the caller pops each
    pair at its first change)."""
    keys = list(
        dict.fromkeys(
            (source, c.event_id)
            for source, batch in batches
            for c in batch.changes
            if c.event_id is not None
        )
    )
    first: dict[tuple[str, str], bool] = {}
    c = db.seen_events.c
    for start in range(0, len(keys), SEEN_CHUNK):
        stmt = (
            upsert(conn, db.seen_events)
            .values(
                [
                    {"source": source, "event_id": x, "seen_at": now}
                    for source, x in keys[start : start + SEEN_CHUNK]
                ]
            )
            .on_conflict_do_nothing()
            .returning(c.source, c.event_id)
        )
        # RETURNING, not rowcount: psycopg reports -1 for a conflicting INSERT ... DO NOTHING.
        first.update(((r.source, r.event_id), True) for r in conn.execute(stmt))
    return first


def _comment_row(conn: Connection, change: CommentChange) -> Any:
    return conn.execute(
        select(
            db.comments.c.id,
            db.comments.c.text,
            db.comments.c.edits,
            db.comments.c.deleted,
            db.comments.c.author_name,
        )
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
        store_new(
            conn, [NewComment(source, change.comment, result)], now, deadline, classify, figures
        )
        return
    if is_removed(row.text):
        result.duplicates += 1  # its personal data was removed on purpose: never bring it back
        return
    if row.text == change.comment.text:
        name = change.comment.author_name
        if name and not row.author_name:  # a name that could not be had at first, filled in
            conn.execute(
                update(db.comments)
                .where(db.comments.c.id == row.id)
                .values(author_name=name, updated_at=now)
            )
            result.updated += 1
            return
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
            store_new(
                conn, [NewComment(source, change.comment, result)], now, deadline, classify, figures
            )
        else:
            result.duplicates += 1  # a delete of something we never stored: nothing to do
        return
    if bool(row.deleted) == deleting:
        result.duplicates += 1
        return
    _set_deleted(conn, row.id, deleting, now)
    result.updated += 1


def _set_deleted(conn: Connection, comment_id: int, deleting: bool, now: datetime) -> None:
    """Mark a stored comment deleted (closing its open incident) or restored (reopening the
    incident its deletion closed), with an audit event."""
    conn.execute(
        update(db.comments)
        .where(db.comments.c.id == comment_id)
        .values(deleted=deleting, updated_at=now)
    )
    incident_id = _incident_of(conn, comment_id)
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


def _apply_snapshot(conn: Connection, snapshot: PostSnapshot, now: datetime) -> int:
    """Bring the post's stored comments in line with what the platform shows: those gone
    from it (written before the snapshot was taken) are deleted, deleted ones it shows again
    are restored. Returns how many changed."""
    c = db.comments.c
    rows = conn.execute(
        select(c.id, c.external_id, c.deleted, c.created_at).where(
            c.platform == snapshot.platform.value,
            c.community == snapshot.community,
            c.post_id == snapshot.post_id,
        )
    ).all()
    changed = 0
    for row in rows:
        alive = row.external_id in snapshot.alive
        if row.deleted and alive:
            _set_deleted(conn, row.id, False, now)
            changed += 1
        elif not row.deleted and not alive and row.created_at <= snapshot.taken_at:
            _set_deleted(conn, row.id, True, now)
            changed += 1
    return changed


def _incident_of(conn: Connection, comment_id: int) -> int | None:
    value: int | None = conn.execute(
        select(db.incidents.c.id).where(db.incidents.c.comment_id == comment_id)
    ).scalar()
    return value
