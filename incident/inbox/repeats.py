"""Groups of near-duplicates: linked when an incident is opened, answered together.

Ingest notes each new incident in ``repeat_pending`` (``note_opened``); the worker's repeat
step (``link_pending_repeats``, every few seconds) compares the pending ones in bulk: each one
that repeats an open incident opened within ``WINDOW`` before it (``incident.repeats``) gets
``repeat_of``, the id of its group's first incident. Comparing in ingest's own transaction
made every commit of a busy worker several times longer. ``group_of`` lists an incident's group;
``reply_to_group`` queues one personalised reply per chosen incident of the group through
``queue_reply``, each checked as a reply of its own.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import Connection, bindparam, delete, exists, insert, or_, select, text, update

from incident import db, repeats
from incident.inbox._sql import upsert
from incident.inbox.errors import ActionRefused
from incident.inbox.outbox import queue_reply
from incident.models import IncidentStatus, OutboxStatus, ReplyKind

WINDOW = timedelta(hours=24)
CANDIDATES = 500  # the newest open incidents of the window a new one is compared with
MAX_GROUP = 200  # incidents a card lists and answers at once
BATCH = 2000  # pending incidents compared in one transaction of the repeat step
HIT_ROWS = 500  # texts searched per cdist call (a matrix of HIT_ROWS x texts before them)
LOCK_KEY = 0x7265_7065_6174  # PostgreSQL advisory lock of the repeat step ("repeat")


@dataclass(frozen=True, slots=True)
class Member:
    """One incident of a group, as the card lists it."""

    id: int
    status: str
    author_name: str | None
    text: str
    replied: bool


def _author(platform: str, author_id: str) -> str:
    return f"{platform}:{author_id}"


def note_opened(conn: Connection, incident_ids: Sequence[int]) -> None:
    """Leave newly opened incidents for the repeat step (``link_pending_repeats``): one
    insert, so opening incidents costs ingest almost nothing more."""
    if incident_ids:
        conn.execute(insert(db.repeat_pending), [{"incident_id": x} for x in incident_ids])


def link_pending_repeats(conn: Connection, limit: int = BATCH) -> tuple[int, int]:
    """Compare up to ``limit`` pending incidents, oldest first, with the open incidents of the
    ``WINDOW`` before them and with each other, give each repeat its group's id, and take them
    off the pending list. One worker at a time does it (a transaction-scoped advisory lock on
    PostgreSQL; SQLite's write lock); another gets (0, 0) at once. Returns (compared, linked)."""
    if (
        conn.dialect.name == "postgresql"
        and not conn.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}
        ).scalar()
    ):
        return 0, 0
    i, c, p = db.incidents.c, db.comments.c, db.repeat_pending.c
    pending = list(
        conn.execute(select(p.incident_id).order_by(p.incident_id).limit(limit)).scalars()
    )
    if not pending:
        return 0, 0
    new = conn.execute(
        select(i.id, i.topic, i.platform, i.opened_at, c.author_id, c.text)
        .join(db.comments, c.id == i.comment_id)
        .where(i.id.in_(pending))
        .order_by(i.id)
    ).all()
    linked = _link(conn, new)
    conn.execute(
        delete(db.repeat_pending).where(p.incident_id.in_(bindparam("ids", expanding=True))),
        {"ids": pending},
    )
    return len(pending), linked


def _link(conn: Connection, new: Sequence[Any]) -> int:
    """Link each of ``new`` (rows of id, topic, platform, opened_at, author_id, text, in id
    order) that repeats an earlier one; the number linked."""
    if not new:
        return 0
    i, c, p = db.incidents.c, db.comments.c, db.repeat_pending.c
    # The newest open incidents of the window, walked on the opened_at index: ordered by id,
    # PostgreSQL walked the primary key back through a million older rows whenever the window
    # held fewer than CANDIDATES (3.5 s a run, every 2 s, on the load benchmark's database).
    window = conn.execute(
        select(i.id, i.repeat_of, i.topic, i.platform, i.opened_at, c.author_id, c.text)
        .join(db.comments, c.id == i.comment_id)
        .where(
            i.status == IncidentStatus.OPEN.value,
            i.opened_at >= min(r.opened_at for r in new) - WINDOW,
            ~exists().where(p.incident_id == i.id),
        )
        .order_by(i.opened_at.desc())
        .limit(CANDIDATES)
    ).all()
    rows = sorted(window, key=lambda r: r.id)  # the oldest first: a repeat joins the earliest
    signatures = [
        repeats.signature(_author(r.platform, r.author_id), r.text, r.topic) for r in (*rows, *new)
    ]
    earlier = repeats.Earlier(signatures)
    first = len(rows)
    heads: list[int] = [r.repeat_of or r.id for r in rows]
    # when each was opened, never decreasing (ids follow time, near enough), so that the
    # first incident inside a new one's window is found by bisection
    opened: list[datetime] = list(accumulate((r.opened_at for r in (*rows, *new)), max))
    links: list[dict[str, Any]] = []
    for k, (r, hits) in enumerate(zip(new, _text_hits(earlier.texts, first), strict=True)):
        found = earlier.find(
            signatures[first + k], bisect_left(opened, r.opened_at - WINDOW), first + k, hits
        )
        head = r.id if found is None else heads[found]
        if found is not None:
            links.append({"target": r.id, "head": head})
        heads.append(head)
    if links:  # one executemany, whatever the number
        conn.execute(
            update(db.incidents)
            .where(i.id == bindparam("target"))
            .values(repeat_of=bindparam("head")),
            links,
        )
    return len(links)


def _text_hits(texts: Sequence[str], first: int) -> Iterator[list[int]]:
    """For each text from index ``first`` on, the indices of the texts before it that it
    matches at ``repeats.OTHERS_SCORE`` or more, in order.

    One ``cdist`` call per ``HIT_ROWS`` texts: rapidfuzz compares them in C without the GIL, so
    the worker's listeners and committers run meanwhile (the same search a text at a time held
    the GIL for a fifth of the worker's time under load)."""
    import numpy  # the worker's repeat step only (9 MB): not on the web app's import path

    for start in range(first, len(texts), HIT_ROWS):
        stop = min(start + HIT_ROWS, len(texts))
        scores = process.cdist(
            texts[start:stop],
            texts[:stop],
            scorer=fuzz.ratio,
            score_cutoff=repeats.OTHERS_SCORE,
            workers=1,
        )
        for k in range(stop - start):
            i = start + k
            yield numpy.flatnonzero(scores[k, :i]).tolist() if texts[i] else []


def group_of(conn: Connection, incident_id: int) -> list[Member]:
    """The incident's group, its first incident first (empty when it belongs to none): the
    group's open incidents, and the incident itself whatever its status."""
    i, c = db.incidents.c, db.comments.c
    own = conn.execute(select(i.id, i.repeat_of).where(i.id == incident_id)).first()
    if own is None:
        return []
    head = own.repeat_of or own.id
    rows = conn.execute(
        select(i.id, i.status, c.author_name, c.text)
        .join(db.comments, c.id == i.comment_id)
        .where(
            or_(i.id == head, i.repeat_of == head),
            or_(i.status == IncidentStatus.OPEN.value, i.id == incident_id),
        )
        .order_by(i.id)
        .limit(MAX_GROUP)
    ).all()
    if len(rows) < 2:
        return []
    ids = [r.id for r in rows]
    replied = set(
        conn.execute(
            select(db.outbox.c.incident_id).where(
                db.outbox.c.incident_id.in_(ids), db.outbox.c.status != OutboxStatus.FAILED.value
            )
        ).scalars()
    )
    return [Member(r.id, r.status, r.author_name, r.text, r.id in replied) for r in rows]


@dataclass(frozen=True, slots=True)
class GroupReply:
    """What ``reply_to_group`` did: the outbox ids queued, and why each refused one was
    refused (incident id -> the refusal's Russian message)."""

    queued: dict[int, int]
    refused: dict[int, str]


def reply_to_group(
    conn: Connection,
    incident_id: int,
    chosen: Sequence[int],
    text: str,
    actor: str,
    now: datetime,
    *,
    kind: ReplyKind | str | None = None,
    limit: int | None = None,
    finish: Callable[[int, str], str] | None = None,
) -> GroupReply:
    """Queue ``text`` for each of ``chosen`` that belongs to ``incident_id``'s group, with
    each author's own greeting (``repeats.personalise``). Each reply is checked by
    ``queue_reply`` like any other and in a savepoint of its own: a refused one (answered
    already, held by someone else, too long with the name) leaves the others queued.
    ``finish(incident_id, text)`` may add to each reply (the web app's rating link), inside
    that reply's savepoint."""
    if not text.strip():
        raise ActionRefused("Напишите ответ: пустой ответ не отправить.")
    members = {m.id: m for m in group_of(conn, incident_id)}
    if not members:
        raise ActionRefused("У этого обращения нет похожих.")
    queued: dict[int, int] = {}
    refused: dict[int, str] = {}
    for target in dict.fromkeys(chosen):
        member = members.get(target)
        if member is None:
            refused[target] = "Это обращение не из этой группы."
            continue
        personal = repeats.personalise(text, member.author_name)
        savepoint = conn.begin_nested()
        try:
            if finish is not None:
                personal = finish(target, personal)
            queued[target] = queue_reply(conn, target, personal, actor, now, kind, limit=limit)
        except ActionRefused as exc:
            savepoint.rollback()
            refused[target] = str(exc)
        else:
            savepoint.commit()
    return GroupReply(queued, refused)


def claim_mass_alert(conn: Connection, key: str, incidents: int, now: datetime) -> bool:
    """Take the right to announce ``key`` (an organisation or address) now: True once per
    ``WINDOW`` per key, whatever the number of workers asking."""
    a = db.mass_alerts.c
    inserted = conn.execute(
        upsert(conn, db.mass_alerts)
        .values(key=key[:200], alerted_at=now, incidents=incidents)
        .on_conflict_do_nothing()
        .returning(a.key)
    ).first()
    if inserted is not None:
        return True
    renewed = conn.execute(
        update(db.mass_alerts)
        .where(a.key == key[:200], a.alerted_at <= now - WINDOW)
        .values(alerted_at=now, incidents=incidents)
    ).rowcount
    return bool(renewed)


def release_mass_alert(conn: Connection, key: str, now: datetime) -> None:
    """Give back a claim whose message no channel delivered: the next run tries again."""
    conn.execute(
        delete(db.mass_alerts).where(
            db.mass_alerts.c.key == key[:200], db.mass_alerts.c.alerted_at == now
        )
    )
