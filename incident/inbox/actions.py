"""Staff actions on an incident besides replying: retry a failed reply, close without an
answer, reopen, change or confirm the topic, assign, add a note.

Every function takes an open connection inside a transaction (``engine.begin()``), the acting
user's name and ``now``, writes an audit event, and refuses with ``ActionRefused`` and a message
for the UI (Russian). Claims are in ``claims``, replies in ``outbox.queue_reply``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, insert, select, update

from incident import db
from incident.inbox.audit import audit
from incident.inbox.claims import incident_row
from incident.inbox.errors import ActionRefused
from incident.inbox.outbox import retry_failed_reply
from incident.models import UNCLASSIFIED, CloseReason, IncidentStatus, OutboxStatus

MAX_NOTE = 4000


def retry_reply(
    conn: Connection, incident_id: int, outbox_id: int, user: str, now: datetime
) -> None:
    """Queue the incident's failed reply ``outbox_id`` again; refused if it is not this
    incident's or not failed."""
    owner = conn.execute(
        select(db.outbox.c.incident_id).where(db.outbox.c.id == outbox_id)
    ).scalar()
    if owner != incident_id:
        raise ActionRefused("Такого ответа у инцидента нет.")
    if not retry_failed_reply(conn, outbox_id, user, now):
        raise ActionRefused("Повторять нечего: ответ не в статусе «ошибка».")


def close_no_answer(
    conn: Connection, incident_id: int, reason: CloseReason, user: str, now: datetime
) -> None:
    """Close an open incident as needing no answer (``reason``), which stops its clock and
    drops the claim; refused if it is not open or a reply is waiting to be sent."""
    row = incident_row(conn, incident_id, lock=True)
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
    audit(conn, now, user, "closed_no_answer", incident_id, reason=reason.value)


def reopen(conn: Connection, incident_id: int, user: str, now: datetime) -> None:
    """Open a closed incident again; refused unless it is closed."""
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
    audit(conn, now, user, "reopened", incident_id)


def change_topic(conn: Connection, incident_id: int, topic: str, user: str, now: datetime) -> None:
    """Set the topic by hand and record the correction (material for improving the rules)."""
    topic = topic.strip()
    if not topic or len(topic) > 32:
        raise ActionRefused("Тема не выбрана.")
    row = incident_row(conn, incident_id, lock=True)
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
            incident_opened_at=row.opened_at,
        )
    )
    audit(conn, now, user, "topic_changed", incident_id, old=row.topic, new=topic)


def confirm_topic(conn: Connection, incident_id: int, user: str, now: datetime) -> str:
    """Record that the incident's topic is right (one click «верно»); returns the topic.

    Refused when there is no topic to confirm or this topic was confirmed already. Kept beside
    the corrections: the statistics count both per topic."""
    row = incident_row(conn, incident_id, lock=True)
    topic = row.topic
    if not topic or topic == UNCLASSIFIED:
        raise ActionRefused("Тема не определена: выберите её в списке «Другая тема».")
    done = conn.execute(
        select(func.count())
        .select_from(db.topic_confirmations)
        .where(
            db.topic_confirmations.c.incident_id == incident_id,
            db.topic_confirmations.c.topic == topic,
        )
    ).scalar_one()
    if done:
        raise ActionRefused("Эта тема уже подтверждена.")
    stored = conn.execute(
        select(db.incidents.c.verdict).where(db.incidents.c.id == incident_id)
    ).scalar_one()
    verdict = stored if isinstance(stored, dict) else {}
    flags = verdict.get("flags")
    uncertain = verdict.get("topic") == topic and isinstance(flags, list) and "uncertain" in flags
    conn.execute(
        insert(db.topic_confirmations).values(
            incident_id=incident_id,
            topic=topic,
            uncertain=uncertain,
            ruleset_version=row.ruleset_version,
            actor=user,
            at=now,
            incident_opened_at=row.opened_at,
        )
    )
    audit(conn, now, user, "topic_confirmed", incident_id, topic=topic)
    return str(topic)


def assign(
    conn: Connection, incident_id: int, assignee: str | None, user: str, now: datetime
) -> None:
    """Make ``assignee`` (an active user; empty or None: nobody) responsible for the
    incident. Assigning the same person again changes and audits nothing."""
    assignee = (assignee or "").strip() or None
    if assignee is not None:
        found = conn.execute(
            select(db.users.c.disabled).where(db.users.c.username == assignee)
        ).first()
        if found is None or found.disabled:
            raise ActionRefused(f"Нет активного пользователя {assignee}.")
    row = incident_row(conn, incident_id, lock=True)
    if row.assignee == assignee:
        return
    conn.execute(
        update(db.incidents)
        .where(db.incidents.c.id == incident_id)
        .values(assignee=assignee, updated_at=now)
    )
    audit(conn, now, user, "assigned", incident_id, old=row.assignee, new=assignee)


def add_note(conn: Connection, incident_id: int, text: str, user: str, now: datetime) -> int:
    """Add an internal note (not published; up to 4,000 characters); returns its id."""
    text = text.strip()
    if not text:
        raise ActionRefused("Заметка пустая.")
    if len(text) > MAX_NOTE:
        raise ActionRefused(f"Заметка длиннее {MAX_NOTE} символов.")
    incident_row(conn, incident_id)
    note_id: int = conn.execute(
        insert(db.notes)
        .values(incident_id=incident_id, author=user, text=text, created_at=now)
        .returning(db.notes.c.id)
    ).scalar_one()
    audit(conn, now, user, "note_added", incident_id, note_id=note_id)
    return note_id
