"""The outbox: replies queued for the worker to post, claimed under a lease, marked posted or
failed, rescheduled with backoff, retried by hand. The web app and the CLI only ever write an
outbox row; the worker alone talks to the platform.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from incident import db
from incident.inbox.audit import audit
from incident.inbox.claims import Claim, person, renew_claim
from incident.inbox.contracts import ResponseFigures, no_figures
from incident.inbox.drafts import drop_draft
from incident.inbox.errors import ReplyNotAllowed
from incident.models import WORKER, IncidentStatus, OutboxStatus, ReplyKind

MAX_REPLY = 10_000  # characters, whatever the platform allows

# What a reply draft shows where a value was missing, e.g. "[телефон горячей линии комитета]",
# and what staff write themselves for "fill this in": [имя], [адрес], [номер]. Any bracketed
# run of words is such a marker (the card's counter uses the same pattern: app.js).
_MARKER = re.compile(r"\[([^\[\]\n]{1,100})\]")


def unfilled_markers(text: str) -> list[str]:
    """The ``[placeholders]`` left in ``text``: brackets around something with a letter in it
    (``[имя]``, ``[номер договора]``), each once, in order; ``[1]`` is not one."""
    found: list[str] = []
    for m in _MARKER.finditer(text):
        if any(ch.isalpha() for ch in m.group(1)) and m.group(0) not in found:
            found.append(m.group(0))
    return found


def _check_text(text: str, limit: int | None) -> str:
    text = text.strip()
    if not text:
        raise ReplyNotAllowed("Ответ пустой.", "the reply is empty")
    longest = min(limit or MAX_REPLY, MAX_REPLY)
    if len(text) > longest:
        raise ReplyNotAllowed(
            f"Ответ длиннее {longest} символов.", f"the reply is longer than {longest} characters"
        )
    unfilled = unfilled_markers(text)
    if unfilled:
        raise ReplyNotAllowed(
            "Заполните в ответе: " + ", ".join(unfilled),
            "fill in the reply's placeholders: " + ", ".join(unfilled),
        )
    return text


def queue_reply(
    conn: Connection,
    incident_id: int,
    text: str,
    actor: str,
    now: datetime,
    kind: ReplyKind | str | None = None,
    *,
    reply_id: str | None = None,
    limit: int | None = None,
) -> int:
    """Queue a public reply for the worker to post; returns the outbox row's id.

    The one way a reply is written, from the web app, the API, the CLI (``incident reply``)
    and the demo. It validates the reply once and refuses with ``ReplyNotAllowed`` (an
    ``ActionRefused``) when: the text is empty after trimming, longer than ``limit`` (the
    platform's) or 10,000 characters, or still holds an unfilled ``[marker]`` (a template's,
    or any bracketed placeholder such as ``[имя]``: ``unfilled_markers``);
    there is no such incident; it is not open (answered or closed: a citizen who writes again
    gets a new incident to answer); it already has a reply waiting, being sent or posted; or
    someone other than ``actor`` holds a live claim on it (checked last: a reply already
    queued is the better reason to give).

    The incident row is locked first, so two people pressing "send" at once are serialised:
    the second sees the first one's reply and is refused. On success it writes the outbox row
    (``kind``: answer, move-to-private, redirect, thanks, clarify, or None when not said),
    renews ``actor``'s claim on the incident, forgets ``actor``'s draft, and writes ONE audit
    event, ``reply_sent``, with the outbox id, the kind and ``reply_id`` (the template it
    started from, if any).
    """
    text = _check_text(text, limit)
    try:
        kind_value = ReplyKind(kind).value if kind is not None else None
    except ValueError:
        raise ReplyNotAllowed("Неизвестный вид ответа.", f"unknown reply kind {kind!r}") from None
    row = conn.execute(
        select(
            db.incidents.c.source,
            db.incidents.c.status,
            db.incidents.c.claimed_by,
            db.incidents.c.claimed_until,
        )
        .where(db.incidents.c.id == incident_id)
        .with_for_update()
    ).first()
    if row is None:
        raise ReplyNotAllowed(f"Инцидента №{incident_id} нет.", f"no incident {incident_id}")
    if row.status != IncidentStatus.OPEN.value:
        raise ReplyNotAllowed(
            "На этот инцидент уже ответили или он закрыт.",
            f"incident {incident_id} is {row.status}; it needs no reply",
        )
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
        waiting = earlier.status != OutboxStatus.POSTED.value
        raise ReplyNotAllowed(
            f"Ответ уже отправлен ({person(conn, earlier.created_by)}); второй не нужен.",
            f"incident {incident_id} already has a reply "
            + ("waiting to be sent" if waiting else "posted"),
        )
    if Claim(row.claimed_by, row.claimed_until).held_by_other(actor, now):
        raise ReplyNotAllowed(
            f"С инцидентом сейчас работает {person(conn, row.claimed_by)}. "
            "Дождитесь окончания или заберите инцидент себе.",
            f"{row.claimed_by} is working on incident {incident_id}",
        )
    outbox_id: int = conn.execute(
        insert(db.outbox)
        .values(
            incident_id=incident_id,
            source=row.source,
            text=text,
            kind=kind_value,
            status=OutboxStatus.PENDING.value,
            created_by=actor,
            created_at=now,
            attempts=0,
            next_attempt_at=now,
            updated_at=now,
        )
        .returning(db.outbox.c.id)
    ).scalar_one()
    audit(
        conn,
        now,
        actor,
        "reply_sent",
        incident_id,
        outbox_id=outbox_id,
        kind=kind_value,
        reply_id=reply_id,
    )
    renew_claim(conn, incident_id, actor, now)
    drop_draft(conn, incident_id, actor)  # its text is in the outbox row now
    return outbox_id


@dataclass(frozen=True, slots=True)
class ClaimedReply:
    """A reply a worker has claimed to post, with where to post it."""

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
        """Stable for the row's whole life: a resend after a crash carries the same key, and
        the platform (VK's ``guid``) refuses to post it twice."""
        return f"incident-outbox-{self.outbox_id}"


def _claimable(now: datetime, worker: str) -> Any:
    """Due pending replies; replies whose sender's lease ran out; and the worker's own claims,
    which it is not sending now (one sender per worker) and so left by a send whose result it
    could not record (the database was away): it sends them again at once, with the same
    idempotency key, rather than waiting out its own lease."""
    return or_(
        and_(
            db.outbox.c.status == OutboxStatus.PENDING.value,
            db.outbox.c.next_attempt_at <= now,
        ),
        and_(db.outbox.c.status == OutboxStatus.SENDING.value, db.outbox.c.lease_until < now),
        and_(db.outbox.c.status == OutboxStatus.SENDING.value, db.outbox.c.claimed_by == worker),
    )


def reply_claim_owners(conn: Connection) -> set[str]:
    """Every worker id with a reply claimed for sending now (live or not)."""
    rows = conn.execute(
        select(db.outbox.c.claimed_by)
        .where(db.outbox.c.status == OutboxStatus.SENDING.value)
        .distinct()
    ).scalars()
    return {str(o) for o in rows if o is not None}


def expire_reply_claims(conn: Connection, worker: str, now: datetime) -> int:
    """End the claims a dead ``worker`` left on replies it was sending, so another claim can
    take them now rather than when their lease runs out (the idempotency key still keeps a
    reply from being posted twice). Returns how many."""
    return int(
        conn.execute(
            update(db.outbox)
            .where(
                db.outbox.c.status == OutboxStatus.SENDING.value,
                db.outbox.c.claimed_by == worker,
            )
            .values(lease_until=now - timedelta(seconds=1), updated_at=now)
        ).rowcount
    )


def claim_reply(
    conn: Connection,
    worker: str,
    now: datetime,
    lease: timedelta,
    sources: Sequence[str] | None = None,
) -> ClaimedReply | None:
    """Claim the oldest due reply with a conditional UPDATE; None if there is none or we lost."""
    query = select(db.outbox.c.id).where(_claimable(now, worker)).order_by(db.outbox.c.id).limit(1)
    if sources is not None:
        query = query.where(db.outbox.c.source.in_(list(sources)))
    candidate = conn.execute(query).scalar()
    if candidate is None:
        return None
    won = conn.execute(
        update(db.outbox)
        .where(db.outbox.c.id == candidate, _claimable(now, worker))
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
    """Give up on the reply for good (the platform refused it, or too many tries): status
    ``failed`` with ``reason``, audited. Staff may retry it by hand (``retry_failed_reply``)."""
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
    """Put the reply back in the queue after a transient fault, due again ``at`` (the
    caller's backoff); the reason is kept as its last error. A no-op if ``worker`` lost it."""
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
    """Queue a failed reply again, due now with its attempts reset; audited ("reply_retry").
    False if the row is not (or no longer) failed."""
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
