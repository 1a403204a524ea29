"""Read-side queries for the web app: the queue with its filters, and everything a card shows.

Every query is bounded (LIMIT) and walks an index in the queue's order, so a page costs the
same with 100 or 100,000 incidents.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import Connection, exists, func, or_, select

from incident import db
from incident.models import IncidentStatus
from incident.sources.registry import PLATFORMS

PAGE = 50
COUNT_CAP = 1000  # "1000+": never count the whole table for a badge


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """What the queue shows. ``community`` (the URL's ``community=``) matches a configured
    source's name (``vk-main``) or the platform's id of the page (``217000001``): both name the
    same page, and the drop-down lists the source names (``source_names``)."""

    platform: str | None = None
    community: str | None = None
    topic: str | None = None
    status: str = IncidentStatus.OPEN.value  # open | answered | closed | all
    mine: bool = False
    overdue: bool = False
    q: str | None = None
    offset: int = 0
    sort: str = "due"  # due: urgent first, then the oldest deadline | new: newest first
    fresh: bool = False  # "новые": opened within the last FRESH

    def as_query(self) -> dict[str, str]:
        """The filter as URL query parameters (for links and the live refresh)."""
        out: dict[str, str] = {}
        for key in ("platform", "community", "topic", "q"):
            value = getattr(self, key)
            if value:
                out[key] = value
        if self.status != IncidentStatus.OPEN.value:
            out["status"] = self.status
        if self.mine:
            out["mine"] = "1"
        if self.overdue:
            out["overdue"] = "1"
        if self.fresh:
            out["fresh"] = "1"
        if self.sort != "due":
            out["sort"] = self.sort
        return out


STATUSES = ("open", "answered", "closed", "all")
SORTS = ("due", "new")
FRESH = timedelta(hours=1)


def make_filter(
    platform: str | None = None,
    community: str | None = None,
    topic: str | None = None,
    status: str | None = None,
    mine: str | None = None,
    overdue: str | None = None,
    q: str | None = None,
    offset: int = 0,
    sort: str | None = None,
    fresh: str | None = None,
) -> QueueFilter:
    """The queue's filters from query-string values: empty means "any", status "open", sort
    "due"; lengths and the offset are bounded."""
    return QueueFilter(
        platform=(platform or None) and platform[:32],
        community=(community or None) and community[:64],
        topic=(topic or None) and topic[:32],
        status=status if status in STATUSES else "open",
        mine=bool(mine),
        overdue=bool(overdue),
        q=(q or "").strip()[:200] or None,
        offset=max(0, min(offset, 100_000)),
        sort=sort if sort in SORTS else "due",
        fresh=bool(fresh),
    )


def filter_from_query(query: str) -> QueueFilter:
    """The filters a saved or remembered query string names (anything unknown is ignored)."""
    values = {k: v[-1] for k, v in parse_qs(query[:2000]).items()}
    offset = values.pop("offset", "0")
    known = ("platform", "community", "topic", "status", "mine", "overdue", "q", "sort", "fresh")
    return make_filter(
        **{k: values[k] for k in known if k in values},
        offset=int(offset) if offset.isdigit() and len(offset) < 7 else 0,
    )


def _text_search(conn: Connection, q: str) -> Any:
    if conn.dialect.name == "postgresql":
        return db.comments.c.text.ilike(f"%{_escape_like(q)}%", escape="\\")
    # SQLite's LIKE folds ASCII only: try the usual spellings of a Cyrillic word as well.
    variants = {q, q.lower(), q.upper(), q.capitalize()}
    return or_(*(db.comments.c.text.contains(v, autoescape=True) for v in sorted(variants)))


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# A group's first incident, as the queue's filter looks it up. Made once: an alias builds its
# column collection when first used, which cost every queue request about 4 % of its time.
_HEAD = db.incidents.alias("head")
_REPEAT = db.incidents.alias("repeat")  # an incident of a group, as a page's marks count them


def _where(conn: Connection, f: QueueFilter, user: str, now: datetime) -> list[Any]:
    i = db.incidents.c
    where: list[Any] = []
    if f.status in STATUSES and f.status != "all":
        where.append(i.status == f.status)
    if f.platform:
        where.append(i.platform == f.platform)
    if f.community:  # a source name, or the platform's community id
        where.append(or_(i.source == f.community, i.community == f.community))
    if f.topic:
        where.append(i.topic == f.topic)
    if f.mine:
        where.append(or_(i.assignee == user, (i.claimed_by == user) & (i.claimed_until > now)))
    if f.overdue:
        where.append(i.due_at < now)
    if f.q:
        where.append(_text_search(conn, f.q.strip()[:200]))
    if f.fresh:
        where.append(i.created_at >= now - FRESH)
    if f.status == IncidentStatus.OPEN.value and not f.q:
        # a near-duplicate is shown as its group's first incident while that one is open. The
        # head's status is a scalar subquery, looked up by primary key row by row: written as
        # NOT EXISTS, PostgreSQL hashed every open incident first (216 ms a count with 27,000
        # open, 17 ms now), on every queue request of every member of staff.
        head_status = select(_HEAD.c.status).where(_HEAD.c.id == i.repeat_of).scalar_subquery()
        where.append(
            or_(
                i.repeat_of.is_(None),
                func.coalesce(head_status, "") != IncidentStatus.OPEN.value,
            )
        )
    return where


def _queue_select(conn: Connection, f: QueueFilter, user: str, now: datetime) -> Any:
    i = db.incidents.c
    c = db.comments.c
    return (
        select(
            i.id,
            i.platform,
            i.community,
            i.source,
            i.topic,
            i.status,
            i.due_at,
            i.assignee,
            i.claimed_by,
            i.claimed_until,
            i.closed_reason,
            i.urgent,
            c.author_name,
            c.author_id,
            func.substr(c.text, 1, 300).label("text"),
            c.created_at,
        )
        .join(db.comments, c.id == i.comment_id)
        .where(*_where(conn, f, user, now))
    )


def queue(conn: Connection, f: QueueFilter, user: str, now: datetime) -> list[Any]:
    """One page of the queue.

    By deadline (``sort="due"``): urgent incidents pinned on top, then the oldest deadline
    first, incidents without one at the end. Each part is a plain ``ORDER BY due_at, id``
    query rather than one ``ORDER BY urgent DESC, ... NULLS LAST``: SQLite and PostgreSQL walk
    the (status, urgent, due_at) and (status, due_at) indexes for them but would sort every
    row for the latter. Newest first (``sort="new"``): by id, descending.
    """
    i = db.incidents.c
    base = _queue_select(conn, f, user, now)
    if f.sort == "new":
        return list(conn.execute(base.order_by(i.id.desc()).limit(PAGE).offset(f.offset)))
    parts = [
        base.where(i.urgent.is_(True), i.due_at.is_not(None)).order_by(i.due_at, i.id),
        base.where(i.urgent.is_(False), i.due_at.is_not(None)).order_by(i.due_at, i.id),
        base.where(i.due_at.is_(None)).order_by(i.urgent.desc(), i.id),
    ]
    return _page_of(conn, parts, max(0, f.offset))


def _page_of(conn: Connection, parts: list[Any], offset: int) -> list[Any]:
    """``PAGE`` rows from ``offset`` of the ordered ``parts`` put one after another (a part is
    counted only when the offset passes it whole)."""
    rows: list[Any] = []
    skip = offset
    for part in parts:
        need = PAGE - len(rows)
        if need <= 0:
            break
        got = list(conn.execute(part.limit(need).offset(skip)))
        if got:
            rows += got
            skip = 0
        elif skip:
            inner = part.order_by(None).with_only_columns(db.incidents.c.id).subquery()
            passed = int(conn.execute(select(func.count()).select_from(inner)).scalar_one())
            skip = max(0, skip - passed)
    return rows


def next_free(
    conn: Connection, f: QueueFilter, user: str, now: datetime, *, besides: int
) -> int | None:
    """The first open incident of the queue under ``f`` (its first page) other than
    ``besides`` that nobody else holds and nobody is answering."""
    first_page = replace(f, offset=0, status=IncidentStatus.OPEN.value)
    for row in queue(conn, first_page, user, now):
        held = row.claimed_by not in (None, user) and row.claimed_until and row.claimed_until > now
        if row.id != besides and not held:
            return int(row.id)
    return None


def _counted(f: QueueFilter) -> Any:
    """The incidents' ids to count, with their comments only when a search reads the text
    (every incident has exactly one comment: the join changes no count)."""
    ids = select(db.incidents.c.id)
    if f.q:
        ids = ids.join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
    return ids


def count(conn: Connection, f: QueueFilter, user: str, now: datetime) -> int:
    """How many incidents match, capped at COUNT_CAP + 1."""
    inner = _counted(f).where(*_where(conn, f, user, now)).limit(COUNT_CAP + 1).subquery()
    return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())


def count_new(conn: Connection, f: QueueFilter, user: str, now: datetime, since: int) -> int:
    """How many incidents under ``f`` (every page) came in after incident ``since``, capped."""
    inner = (
        _counted(f)
        .where(*_where(conn, f, user, now), db.incidents.c.id > since)
        .limit(COUNT_CAP + 1)
        .subquery()
    )
    return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())


def newest_open_id(conn: Connection) -> int:
    """The highest incident id: the live refresh compares it to know something new came in."""
    return int(conn.execute(select(func.coalesce(func.max(db.incidents.c.id), 0))).scalar_one())


def choices(conn: Connection) -> dict[str, list[str]]:
    """Values for the filter drop-downs: from the sources table (small), not the incidents."""
    platforms = sorted({r.platform for r in conn.execute(select(db.source_status.c.platform))})
    return {"platforms": platforms or list(PLATFORMS)}


def source_names(conn: Connection) -> list[str]:
    """The configured sources (one community each) that have reported at least once."""
    return sorted(r.source for r in conn.execute(select(db.source_status.c.source)))


# --- the card ----------------------------------------------------------------------------


def incident(conn: Connection, incident_id: int) -> Any | None:
    i = db.incidents.c
    c = db.comments.c
    return conn.execute(
        select(
            i.id,
            i.platform,
            i.community,
            i.source,
            i.status,
            i.topic,
            i.verdict,
            i.ruleset_version,
            i.assignee,
            i.opened_at,
            i.due_at,
            i.first_response_at,
            i.first_response_by,
            i.closed_reason,
            i.claimed_by,
            i.claimed_until,
            i.created_at,
            i.urgent,
            c.id.label("comment_id"),
            c.post_id,
            c.external_id,
            c.author_id,
            c.author_name,
            c.text,
            c.created_at.label("published_at"),
            c.reply_to_id,
            c.thread_root_id,
            c.deleted,
            c.edits,
        )
        .join(db.comments, c.id == i.comment_id)
        .where(i.id == incident_id)
    ).first()


def thread(conn: Connection, card: Any, limit: int = 30) -> list[Any]:
    """The comment's thread: its root and the replies under it, oldest first."""
    c = db.comments.c
    root = card.thread_root_id or card.external_id
    return list(
        conn.execute(
            select(
                c.id,
                c.external_id,
                c.author_id,
                c.author_name,
                c.text,
                c.created_at,
                c.from_community,
                c.deleted,
            )
            .where(
                c.platform == card.platform,
                c.community == card.community,
                c.post_id == card.post_id,
                or_(c.external_id == root, c.thread_root_id == root),
            )
            .order_by(c.created_at, c.id)
            .limit(limit)
        )
    )


def author_history(conn: Connection, card: Any, limit: int = 10) -> list[Any]:
    i = db.incidents.c
    c = db.comments.c
    return list(
        conn.execute(
            select(i.id, i.status, i.topic, func.substr(c.text, 1, 200).label("text"), c.created_at)
            .join(db.incidents, i.comment_id == c.id)
            .where(
                c.platform == card.platform,
                c.author_id == card.author_id,
                c.id != card.comment_id,
            )
            .order_by(c.created_at.desc())
            .limit(limit)
        )
    )


def replies(conn: Connection, incident_id: int) -> list[Any]:
    o = db.outbox.c
    return list(
        conn.execute(
            select(
                o.id,
                o.text,
                o.status,
                o.created_by,
                o.created_at,
                o.attempts,
                o.posted_url,
                o.posted_at,
                o.last_error,
            )
            .where(o.incident_id == incident_id)
            .order_by(o.id)
        )
    )


def history(conn: Connection, incident_id: int, limit: int = 200) -> list[Any]:
    a = db.audit_events.c
    return list(
        conn.execute(
            select(a.id, a.at, a.actor, a.action, a.details)
            .where(a.incident_id == incident_id)
            .order_by(a.at, a.id)
            .limit(limit)
        )
    )


def notes(conn: Connection, incident_id: int) -> list[Any]:
    n = db.notes.c
    return list(
        conn.execute(
            select(n.id, n.author, n.text, n.created_at)
            .where(n.incident_id == incident_id)
            .order_by(n.created_at, n.id)
            .limit(200)
        )
    )


def audit_log(conn: Connection, before: int | None = None, limit: int = 100) -> list[Any]:
    a = db.audit_events.c
    query = select(a.id, a.at, a.actor, a.incident_id, a.action, a.details)
    if before is not None:
        query = query.where(a.id < before)
    return list(conn.execute(query.order_by(a.id.desc()).limit(limit)))


def display_names(conn: Connection, usernames: list[str]) -> dict[str, str]:
    """The display name of each of ``usernames`` that has an account and a non-blank one."""
    if not usernames:
        return {}
    u = db.users.c
    rows = conn.execute(select(u.username, u.display_name).where(u.username.in_(usernames)))
    return {r.username: r.display_name.strip() for r in rows if (r.display_name or "").strip()}


def active_usernames(conn: Connection) -> list[str]:
    return [
        r.username
        for r in conn.execute(
            select(db.users.c.username)
            .where(db.users.c.disabled.is_(False))
            .order_by(db.users.c.username)
        )
    ]


def topic_confirmed(conn: Connection, incident_id: int, topic: str | None) -> bool:
    """Has a person confirmed that ``topic`` is the incident's topic (one click «верно»)?"""
    if not topic:
        return False
    t = db.topic_confirmations.c
    found = conn.execute(
        select(t.id).where(t.incident_id == incident_id, t.topic == topic).limit(1)
    ).first()
    return found is not None


def row_marks(conn: Connection, rows: list[Any]) -> tuple[dict[int, str], dict[int, int]]:
    """For one page of queue rows, in one query (read for the page's ids only, at most
    ``PAGE``, after the page itself):

    * topic marks: ``"conversation"`` for citizens talking among themselves, ``"uncertain"``
      for a topic the classifier guessed and nobody has confirmed or corrected yet;
    * group sizes: for each row that heads a group of repeats, how many other open incidents
      repeat it (only rows with any)."""
    ids = [r.id for r in rows]
    if not ids:
        return {}, {}
    i = db.incidents.c
    t = db.topic_confirmations.c
    confirmed = exists().where(t.incident_id == i.id, t.topic == i.topic).label("confirmed")
    similar = (
        select(func.count())
        .select_from(_REPEAT)
        .where(_REPEAT.c.repeat_of == i.id, _REPEAT.c.status == IncidentStatus.OPEN.value)
        .scalar_subquery()
        .label("similar")
    )
    marks: dict[int, str] = {}
    sizes: dict[int, int] = {}
    for r in conn.execute(
        select(i.id, i.topic, i.verdict, confirmed, similar).where(i.id.in_(ids))
    ):
        if r.similar:
            sizes[r.id] = int(r.similar)
        verdict = r.verdict if isinstance(r.verdict, dict) else {}
        flags = verdict.get("flags")
        if not isinstance(flags, list):
            continue
        if "conversation" in flags:
            marks[r.id] = "conversation"
        elif "uncertain" in flags and verdict.get("topic") == r.topic and not r.confirmed:
            marks[r.id] = "uncertain"
    return marks, sizes
