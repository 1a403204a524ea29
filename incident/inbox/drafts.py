"""What staff have typed and where they are: reply drafts kept on the server (one per incident
and user, saved as they type), who has a card open right now, and each user's saved views of
the queue. Nothing here touches an incident's state; claims are in ``claims``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from incident import db
from incident.inbox.errors import ActionRefused

MAX_DRAFT = 20_000  # characters: the editor's own limit; the platform's is checked on sending
VIEWER_FRESH = timedelta(seconds=15)  # an open card stamps its viewer every few seconds
MAX_SAVED_FILTERS = 30


@dataclass(frozen=True, slots=True)
class Draft:
    text: str
    kind: str | None
    reply_id: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Viewer:
    username: str
    editing: bool


def _upsert(conn: Connection, table: Any, keys: dict[str, Any], values: dict[str, Any]) -> None:
    """Insert the row, or update it when its key is taken (one statement, race-free on both
    databases)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**keys, **values)
    conn.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=values))


def save_draft(
    conn: Connection,
    incident_id: int,
    user: str,
    text: str,
    now: datetime,
    *,
    kind: str | None = None,
    reply_id: str | None = None,
) -> None:
    """Keep what ``user`` has typed for the incident (replacing their earlier draft); refused
    beyond ``MAX_DRAFT`` characters or for an incident that does not exist."""
    if len(text) > MAX_DRAFT:
        raise ActionRefused(f"Черновик длиннее {MAX_DRAFT} символов.")
    found = conn.execute(select(db.incidents.c.id).where(db.incidents.c.id == incident_id)).first()
    if found is None:
        raise ActionRefused(f"Инцидента №{incident_id} нет.")
    _upsert(
        conn,
        db.reply_drafts,
        {"incident_id": incident_id, "username": user},
        {
            "text": text,
            "kind": (kind or None) and kind[:32],
            "reply_id": (reply_id or None) and reply_id[:100],
            "updated_at": now,
        },
    )


def draft_of(conn: Connection, incident_id: int, user: str) -> Draft | None:
    """``user``'s draft for the incident, if they typed one."""
    d = db.reply_drafts.c
    row = conn.execute(
        select(d.text, d.kind, d.reply_id, d.updated_at).where(
            d.incident_id == incident_id, d.username == user
        )
    ).first()
    return Draft(row.text, row.kind, row.reply_id, row.updated_at) if row else None


def drop_draft(conn: Connection, incident_id: int, user: str) -> None:
    """Forget ``user``'s draft (their reply was queued: its text is in the outbox now)."""
    d = db.reply_drafts.c
    conn.execute(delete(db.reply_drafts).where(d.incident_id == incident_id, d.username == user))


def see_card(
    conn: Connection, incident_id: int, user: str, now: datetime, *, editing: bool = False
) -> None:
    """Record that ``user`` has the incident's card open at ``now`` (and whether they have
    typed in its editor)."""
    _upsert(
        conn,
        db.card_viewers,
        {"incident_id": incident_id, "username": user},
        {"seen_at": now, "editing": editing},
    )


def leave_card(conn: Connection, incident_id: int, user: str) -> None:
    """``user`` closed the card."""
    v = db.card_viewers.c
    conn.execute(delete(db.card_viewers).where(v.incident_id == incident_id, v.username == user))


def viewers(
    conn: Connection, incident_id: int, now: datetime, *, besides: str = ""
) -> list[Viewer]:
    """Who has the card open at ``now`` (stamped within ``VIEWER_FRESH``), ``besides`` left out."""
    v = db.card_viewers.c
    rows = conn.execute(
        select(v.username, v.editing)
        .where(v.incident_id == incident_id, v.seen_at > now - VIEWER_FRESH, v.username != besides)
        .order_by(v.username)
    )
    return [Viewer(r.username, bool(r.editing)) for r in rows]


def in_peoples_hands(now: datetime, besides: str) -> Any:
    """A SQL condition on incidents: someone other than ``besides`` has the card open (stamped
    within ``VIEWER_FRESH``) or has a draft of a reply to it saved, at any time."""
    v = db.card_viewers.c
    d = db.reply_drafts.c
    return or_(
        db.incidents.c.id.in_(
            select(v.incident_id).where(v.seen_at > now - VIEWER_FRESH, v.username != besides)
        ),
        db.incidents.c.id.in_(select(d.incident_id).where(d.username != besides)),
    )


def forget_old_viewers(conn: Connection, now: datetime) -> int:
    """Drop viewer stamps older than an hour (cards closed without saying so)."""
    return conn.execute(
        delete(db.card_viewers).where(db.card_viewers.c.seen_at < now - timedelta(hours=1))
    ).rowcount


# --- saved views of the queue ------------------------------------------------------------


def save_filter(conn: Connection, user: str, name: str, query: str, now: datetime) -> int:
    """Keep ``query`` (the queue's filters as a query string) under ``name`` for ``user``;
    the same name again replaces it. Returns the view's id."""
    name = " ".join(name.split())
    if not name:
        raise ActionRefused("Назовите фильтр.")
    if len(name) > 60:
        raise ActionRefused("Название фильтра длиннее 60 символов.")
    if len(query) > 1000:
        raise ActionRefused("Фильтр слишком длинный.")
    s = db.saved_filters.c
    existing = conn.execute(select(s.id).where(s.username == user, s.name == name)).scalar()
    if existing is not None:
        conn.execute(
            update(db.saved_filters).where(s.id == existing).values(query=query, created_at=now)
        )
        return int(existing)
    many = conn.execute(
        select(func.count()).select_from(db.saved_filters).where(s.username == user)
    ).scalar_one()
    if many >= MAX_SAVED_FILTERS:
        raise ActionRefused(f"Сохранять можно не больше {MAX_SAVED_FILTERS} фильтров.")
    new_id: int = conn.execute(
        insert(db.saved_filters)
        .values(username=user, name=name, query=query, created_at=now)
        .returning(s.id)
    ).scalar_one()
    return new_id


def saved_filters(conn: Connection, user: str) -> list[Any]:
    """``user``'s saved views, by name."""
    s = db.saved_filters.c
    return list(
        conn.execute(select(s.id, s.name, s.query).where(s.username == user).order_by(s.name))
    )


def delete_filter(conn: Connection, user: str, filter_id: int) -> None:
    """Remove one of ``user``'s saved views (someone else's is never touched)."""
    s = db.saved_filters.c
    done = conn.execute(
        delete(db.saved_filters).where(s.id == filter_id, s.username == user)
    ).rowcount
    if not done:
        raise ActionRefused("Такого фильтра нет.")
