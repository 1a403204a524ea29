"""What staff do to incidents from the web app: claim, send, close, re-topic, assign, note.

Every function takes an open connection inside a transaction (``engine.begin()``), the acting
user's name and ``now``, and writes an audit event. Replies go through ``inbox.queue_reply``;
the worker posts them. Refusals raise ``ActionRefused`` with a message for the UI (Russian).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from incident import db, inbox
from incident.models import CloseReason, IncidentStatus, OutboxStatus, ReplyKind
from incident.replies import PLACEHOLDERS

CLAIM_FOR = timedelta(minutes=5)
MAX_NOTE = 4000
MAX_REPLY = 10_000


# What a reply draft shows where a value was missing, e.g. "[телефон горячей линии комитета]".
_MARKERS = tuple(f"[{description}]" for description in PLACEHOLDERS.values())


class ActionRefused(Exception):
    """The action is not possible right now; the message is shown to the user as is."""


@dataclass(frozen=True, slots=True)
class Claim:
    by: str | None
    until: datetime | None

    def held_by_other(self, user: str, now: datetime) -> bool:
        return (
            self.by is not None and self.by != user and self.until is not None and self.until > now
        )


def _incident(conn: Connection, incident_id: int, *, lock: bool = False) -> Any:
    query = select(
        db.incidents.c.id,
        db.incidents.c.status,
        db.incidents.c.topic,
        db.incidents.c.ruleset_version,
        db.incidents.c.assignee,
        db.incidents.c.claimed_by,
        db.incidents.c.claimed_until,
    ).where(db.incidents.c.id == incident_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise ActionRefused(f"инцидента №{incident_id} нет")
    return row


def _claim_is_free(user: str, now: datetime) -> Any:
    return or_(
        db.incidents.c.claimed_by.is_(None),
        db.incidents.c.claimed_by == user,
        db.incidents.c.claimed_until.is_(None),
        db.incidents.c.claimed_until <= now,
    )


def claim(
    conn: Connection, incident_id: int, user: str, now: datetime, *, force: bool = False
) -> Claim:
    """Take (or renew) the incident for ``user`` for a few minutes, with a conditional UPDATE.

    Returns the claim as it stands afterwards: if someone else holds it, theirs. ``force`` takes
    it over from them (recorded in the audit log). Closed or answered incidents are not claimed.
    """
    row = _incident(conn, incident_id)
    if row.status != IncidentStatus.OPEN.value:
        return Claim(row.claimed_by, row.claimed_until)
    where = [db.incidents.c.id == incident_id]
    if not force:
        where.append(_claim_is_free(user, now))
    won = conn.execute(
        update(db.incidents).where(*where).values(claimed_by=user, claimed_until=now + CLAIM_FOR)
    ).rowcount
    if won == 1:
        fresh = row.claimed_by != user or row.claimed_until is None or row.claimed_until <= now
        if fresh:
            details: dict[str, Any] = {}
            if force and Claim(row.claimed_by, row.claimed_until).held_by_other(user, now):
                details["taken_from"] = row.claimed_by
            inbox.audit(conn, now, user, "claimed", incident_id, **details)
        return Claim(user, now + CLAIM_FOR)
    row = _incident(conn, incident_id)
    return Claim(row.claimed_by, row.claimed_until)


def release(conn: Connection, incident_id: int, user: str, now: datetime) -> bool:
    done = conn.execute(
        update(db.incidents)
        .where(db.incidents.c.id == incident_id, db.incidents.c.claimed_by == user)
        .values(claimed_by=None, claimed_until=None)
    ).rowcount
    if done:
        inbox.audit(conn, now, user, "released", incident_id)
    return bool(done)


def _refuse_if_claimed_by_other(row: Any, user: str, now: datetime) -> None:
    theirs = Claim(row.claimed_by, row.claimed_until)
    if theirs.held_by_other(user, now):
        raise ActionRefused(
            f"С инцидентом сейчас работает {row.claimed_by}. "
            "Дождитесь окончания или заберите инцидент себе."
        )


def send_reply(
    conn: Connection,
    incident_id: int,
    text: str,
    user: str,
    now: datetime,
    *,
    kind: ReplyKind = ReplyKind.ANSWER,
    reply_id: str | None = None,
    limit: int | None = None,
) -> int:
    """Queue a public reply; the worker posts it. Returns the outbox row id.

    The incident row is locked first, so two people pressing "send" at once are serialised:
    the second sees the first one's reply (waiting or posted) and is refused.
    """
    text = text.strip()
    if not text:
        raise ActionRefused("Ответ пустой.")
    if len(text) > min(limit or MAX_REPLY, MAX_REPLY):
        raise ActionRefused(f"Ответ длиннее {min(limit or MAX_REPLY, MAX_REPLY)} символов.")
    unfilled = [m for m in _MARKERS if m in text]
    if unfilled:
        raise ActionRefused("Заполните в ответе: " + ", ".join(unfilled))
    row = _incident(conn, incident_id, lock=True)
    _refuse_if_claimed_by_other(row, user, now)
    if row.status != IncidentStatus.OPEN.value:
        raise ActionRefused("На этот инцидент уже ответили или он закрыт.")
    earlier = conn.execute(
        select(db.outbox.c.status, db.outbox.c.created_by)
        .where(
            db.outbox.c.incident_id == incident_id,
            db.outbox.c.status.in_(
                [
                    OutboxStatus.PENDING.value,
                    OutboxStatus.SENDING.value,
                    OutboxStatus.POSTED.value,
                ]
            ),
        )
        .limit(1)
    ).first()
    if earlier is not None:
        raise ActionRefused(f"Ответ уже отправлен ({earlier.created_by}); второй не нужен.")
    try:
        outbox_id = inbox.queue_reply(conn, incident_id, text, user, now, kind=kind.value)
    except inbox.ReplyNotAllowed as exc:
        raise ActionRefused(f"Ответ не поставлен в очередь: {exc}") from exc
    inbox.audit(
        conn,
        now,
        user,
        "reply_sent",
        incident_id,
        outbox_id=outbox_id,
        kind=kind.value,
        reply_id=reply_id,
    )
    conn.execute(
        update(db.incidents)
        .where(db.incidents.c.id == incident_id)
        .values(claimed_by=user, claimed_until=now + CLAIM_FOR, updated_at=now)
    )
    return outbox_id


def retry_reply(
    conn: Connection, incident_id: int, outbox_id: int, user: str, now: datetime
) -> None:
    owner = conn.execute(
        select(db.outbox.c.incident_id).where(db.outbox.c.id == outbox_id)
    ).scalar()
    if owner != incident_id:
        raise ActionRefused("Такого ответа у инцидента нет.")
    if not inbox.retry_failed_reply(conn, outbox_id, user, now):
        raise ActionRefused("Повторять нечего: ответ не в статусе «ошибка».")


def close_no_answer(
    conn: Connection, incident_id: int, reason: CloseReason, user: str, now: datetime
) -> None:
    row = _incident(conn, incident_id, lock=True)
    if row.status != IncidentStatus.OPEN.value:
        raise ActionRefused("Инцидент уже не открыт.")
    in_flight = conn.execute(
        select(func.count())
        .select_from(db.outbox)
        .where(
            db.outbox.c.incident_id == incident_id,
            db.outbox.c.status.in_([OutboxStatus.PENDING.value, OutboxStatus.SENDING.value]),
        )
    ).scalar_one()
    if in_flight:
        raise ActionRefused("Ответ уже ждёт отправки: закрыть без ответа нельзя.")
    conn.execute(
        update(db.incidents)
        .where(db.incidents.c.id == incident_id)
        .values(
            status=IncidentStatus.CLOSED.value,
            closed_reason=reason.value,
            claimed_by=None,
            claimed_until=None,
            updated_at=now,
        )
    )
    inbox.audit(conn, now, user, "closed_no_answer", incident_id, reason=reason.value)


def reopen(conn: Connection, incident_id: int, user: str, now: datetime) -> None:
    done = conn.execute(
        update(db.incidents)
        .where(
            db.incidents.c.id == incident_id,
            db.incidents.c.status == IncidentStatus.CLOSED.value,
        )
        .values(status=IncidentStatus.OPEN.value, closed_reason=None, updated_at=now)
    ).rowcount
    if done != 1:
        raise ActionRefused("Открыть снова можно только закрытый без ответа инцидент.")
    inbox.audit(conn, now, user, "reopened", incident_id)


def change_topic(conn: Connection, incident_id: int, topic: str, user: str, now: datetime) -> None:
    """Set the topic by hand and record the correction (material for improving the rules)."""
    topic = topic.strip()
    if not topic or len(topic) > 32:
        raise ActionRefused("Тема не выбрана.")
    row = _incident(conn, incident_id, lock=True)
    if row.topic == topic:
        raise ActionRefused("Тема и так такая.")
    conn.execute(
        update(db.incidents)
        .where(db.incidents.c.id == incident_id)
        .values(topic=topic, updated_at=now)
    )
    conn.execute(
        insert(db.topic_corrections).values(
            incident_id=incident_id,
            from_topic=row.topic,
            to_topic=topic,
            ruleset_version=row.ruleset_version,
            actor=user,
            at=now,
        )
    )
    inbox.audit(conn, now, user, "topic_changed", incident_id, old=row.topic, new=topic)


def assign(
    conn: Connection, incident_id: int, assignee: str | None, user: str, now: datetime
) -> None:
    assignee = (assignee or "").strip() or None
    if assignee is not None:
        found = conn.execute(
            select(db.users.c.disabled).where(db.users.c.username == assignee)
        ).first()
        if found is None or found.disabled:
            raise ActionRefused(f"Нет активного пользователя {assignee}.")
    row = _incident(conn, incident_id, lock=True)
    if row.assignee == assignee:
        return
    conn.execute(
        update(db.incidents)
        .where(db.incidents.c.id == incident_id)
        .values(assignee=assignee, updated_at=now)
    )
    inbox.audit(conn, now, user, "assigned", incident_id, old=row.assignee, new=assignee)


def add_note(conn: Connection, incident_id: int, text: str, user: str, now: datetime) -> int:
    text = text.strip()
    if not text:
        raise ActionRefused("Заметка пустая.")
    if len(text) > MAX_NOTE:
        raise ActionRefused(f"Заметка длиннее {MAX_NOTE} символов.")
    _incident(conn, incident_id)
    note_id: int = conn.execute(
        insert(db.notes)
        .values(incident_id=incident_id, author=user, text=text, created_at=now)
        .returning(db.notes.c.id)
    ).scalar_one()
    inbox.audit(conn, now, user, "note_added", incident_id, note_id=note_id)
    return note_id


def claimed_by_other(user: str, now: datetime) -> Any:
    """A SQL condition: someone other than ``user`` holds a live claim."""
    return and_(
        db.incidents.c.claimed_by.is_not(None),
        db.incidents.c.claimed_by != user,
        db.incidents.c.claimed_until > now,
    )
