"""The SLA warning step: mark incidents whose deadline is near or past, and tell the staff once.

``warn_breaches_once`` is a run-once pipeline step (the daemon schedules it, e.g. every
minute). For every open incident it finds

* past ``due_at`` without a breach mark: sets ``breach_notified_at`` (and ``warned_at`` if the
  incident skipped the warning, e.g. after downtime: only the breach is announced);
* past its warn moment without a warning mark: sets ``warned_at``. The warn moment is the
  incident's stored ``warn_at`` (``[sla] warn_at`` of the budget, computed by ``sla.deadline``
  at ingest together with ``due_at``); rows stored before it existed get it computed once here
  and stored.

Marks are claimed with a conditional UPDATE (``... WHERE warned_at IS NULL``), so with several
workers each incident is announced by exactly one of them. Each run sends at most one message
per stage to each notifier, listing the incidents (a burst of breaches is one message, not a
flood). If no notifier delivered a stage's message, that stage's marks are released and the
next run tries again; if at least one did, they stay (the other channel's failure is logged
and audited). A worker that dies between the claim and the send loses that one message: the
marks favour "never twice" over "always", the incident stays visibly overdue in the queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, or_, select

from incident import db, inbox, repeats, sla
from incident.logs import get_logger
from incident.models import TOPIC_LABELS, UNCLASSIFIED, WORKER, IncidentStatus
from incident.notify import Notifier, send_to_all
from incident.sources.registry import title as platform_title
from incident.words import APPEALS, DAYS, count

MAX_LISTED = 20  # incidents listed by name in one message
BATCH = 500  # incidents examined per run


@dataclass(frozen=True, slots=True)
class _Due:
    id: int
    platform: str
    community: str
    topic: str | None
    due_at: datetime
    text: str
    author: str | None


def _duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        return f"{count(hours // 24, DAYS)} {hours % 24} ч"
    return f"{hours} ч {minutes:02d} мин" if hours else f"{minutes} мин"


def _snippet(text: str, limit: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def format_message(
    stage: str,
    items: Sequence[_Due],
    now: datetime,
    settings: sla.SlaSettings,
    base_url: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """(subject, text) in Russian for a "warn" or a "breach" batch."""
    tz = settings.calendar.tz
    n = len(items)
    if stage == "breach":
        subject = f"Просрочен ответ: {count(n, APPEALS)}"
    else:
        subject = f"Скоро срок ответа: {count(n, APPEALS)}"
    lines = [subject, ""]
    names = labels or TOPIC_LABELS
    for item in items[:MAX_LISTED]:
        topic = names.get(item.topic or UNCLASSIFIED, item.topic or "без темы")
        due_local = item.due_at.astimezone(tz)
        when = (
            f"просрочено на {_duration(now - item.due_at)}"
            if stage == "breach"
            else f"осталось {_duration(item.due_at - now)}"
        )
        lines.append(
            f"• №{item.id}, {platform_title(item.platform)}, сообщество {item.community}, "
            f"«{topic}»: "
            f"срок {due_local:%d.%m %H:%M}, {when}"
        )
        _author_and_link(lines, item, base_url)
    if n > MAX_LISTED:
        lines.append(f"…и ещё {count(n - MAX_LISTED, APPEALS)}")
    return subject, "\n".join(lines)


def _candidates(engine: Engine, now: datetime) -> list[Any]:
    i = db.incidents.c
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(
                    i.id,
                    i.platform,
                    i.community,
                    i.topic,
                    i.opened_at,
                    i.due_at,
                    i.warn_at,
                    i.warned_at,
                    i.breach_notified_at,
                    db.comments.c.text,
                    db.comments.c.author_name,
                )
                .join(db.comments, db.comments.c.id == i.comment_id)
                .where(
                    i.status == IncidentStatus.OPEN.value,
                    i.due_at.is_not(None),
                    or_(i.warned_at.is_(None), i.breach_notified_at.is_(None)),
                    i.opened_at <= now,
                )
                .order_by(i.due_at)
                .limit(BATCH)
            )
        )


def warn_breaches_once(
    engine: Engine,
    settings: sla.SlaSettings,
    notifiers: Sequence[Notifier],
    now: datetime,
    *,
    base_url: str | None = None,
    warn: bool = True,
    breach: bool = True,
    labels: Mapping[str, str] | None = None,
) -> int:
    """Mark and announce near and past deadlines: one bounded run (at most ``BATCH``
    incidents examined). Returns how many incidents were marked (0: nothing to do). With no
    notifiers the marks are still set (the queue shows them).

    The warning moment is the incident's stored ``warn_at`` (set at ingest with ``due_at``, by
    the same deadline policy); the run never recomputes a stored one. An incident stored
    before ``warn_at`` existed (NULL) gets it computed once from ``settings`` with
    ``sla.deadline``, as it was before, and stored, so later runs read it too.
    ``settings`` also gives the time zone of the messages."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    log = get_logger(step="sla_warnings")
    due: dict[inbox.MarkStage, list[_Due]] = {"breach": [], "warn": []}
    missing: dict[int, datetime] = {}
    for r in _candidates(engine, now):
        item = _Due(r.id, r.platform, r.community, r.topic, r.due_at, r.text, r.author_name)
        if r.due_at < now:
            if r.breach_notified_at is None and breach:
                due["breach"].append(item)
            continue
        if r.warned_at is not None or not warn:
            continue
        warn_at = r.warn_at
        if warn_at is None:
            d = sla.deadline(r.opened_at, None, r.topic, r.platform, settings, r.community)
            warn_at = missing[r.id] = d.warn.astimezone(UTC)
        if now >= min(warn_at, r.due_at):
            due["warn"].append(item)
    if missing:
        with engine.begin() as conn:
            inbox.store_warn_times(conn, missing)
    marked = 0
    stages: tuple[inbox.MarkStage, ...] = ("breach", "warn")
    for stage in stages:
        by_id = {item.id: item for item in due[stage]}
        if not by_id:
            continue  # no transaction (SQLite: no write lock) when there is nothing to claim
        with engine.begin() as conn:
            claimed = inbox.claim_deadline_marks(conn, stage, list(by_id), now)
        if not claimed:
            continue
        marked += len(claimed)
        items = [by_id[c] for c in claimed]
        if not notifiers:
            continue
        subject, text = format_message(stage, items, now, settings, base_url, labels)
        outcome = send_to_all(notifiers, subject, text)
        failed = {name: reason for name, reason in outcome.items() if reason is not None}
        if failed:
            log.warning("sla_notification_failed", stage=stage, failed=failed)
            with engine.begin() as conn:
                inbox.audit(
                    conn,
                    now,
                    WORKER,
                    "sla_notification_failed",
                    None,
                    stage=stage,
                    failed=failed,
                )
        if len(failed) == len(outcome):
            with engine.begin() as conn:
                inbox.release_deadline_marks(conn, stage, claimed, now)
            marked -= len(claimed)
            continue
        log.info("sla_notified", stage=stage, incidents=len(claimed), channels=sorted(outcome))
    return marked


MASS_WINDOW = timedelta(hours=24)
MASS_SCAN = 2000  # the newest open incidents of the window examined per run


@dataclass(frozen=True, slots=True)
class MassIssue:
    """Open complaints of the last day about one organisation or address."""

    key: str
    name: str  # as the first complaint wrote it
    items: tuple[_Due, ...]


def find_mass_issues(engine: Engine, now: datetime, threshold: int) -> list[MassIssue]:
    """Organisations and addresses named by at least ``threshold`` open incidents opened in
    the last 24 hours (distinct authors counted once each), the largest first."""
    if threshold <= 0:
        return []
    i, c = db.incidents.c, db.comments.c
    with engine.connect() as conn:
        # on the opened_at index: ordered by id, PostgreSQL walked the primary key back through
        # every older incident whenever the day held fewer than MASS_SCAN open ones
        window = conn.execute(
            select(
                i.id, i.platform, i.community, i.topic, i.due_at, c.text, c.author_name, c.author_id
            )
            .join(db.comments, c.id == i.comment_id)
            .where(i.status == IncidentStatus.OPEN.value, i.opened_at >= now - MASS_WINDOW)
            .order_by(i.opened_at.desc())
            .limit(MASS_SCAN)
        ).all()
    rows = sorted(window, key=lambda r: r.id, reverse=True)  # the newest first
    by_key: dict[str, list[Any]] = {}
    names: dict[str, str] = {}
    authors: dict[str, set[tuple[str, str]]] = {}
    named = [repeats.named_entities(r.text) for r in rows]
    known = {key for found in named for key in found}
    for r, found in zip(reversed(rows), reversed(named), strict=True):
        # an organisation another comment named in quotes counts when written bare too
        bare = {key: "" for key in repeats.capitalised(r.text) & known if key not in found}
        for key, name in {**found, **bare}.items():
            author = (r.platform, r.author_id)
            if author in authors.setdefault(key, set()):
                continue  # one person writing five times is a repeat, not a mass issue
            authors[key].add(author)
            by_key.setdefault(key, []).append(r)
            if name:
                names.setdefault(key, name)
    issues = [
        MassIssue(
            key,
            names.get(key, key.partition(":")[2]),
            tuple(
                _Due(r.id, r.platform, r.community, r.topic, r.due_at, r.text, r.author_name)
                for r in items
            ),
        )
        for key, items in by_key.items()
        if len(items) >= threshold
    ]
    return sorted(issues, key=lambda m: (-len(m.items), m.key))


def _author_and_link(lines: list[str], item: Any, base_url: str | None) -> None:
    """An item's author and text under its line of a message, and its card's link."""
    lines.append(f"  {item.author or 'Автор'}: {_snippet(item.text)}")
    if base_url:
        lines.append(f"  {base_url.rstrip('/')}/incidents/{item.id}")


def format_mass_message(
    issue: MassIssue, base_url: str | None = None, labels: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """(subject, text) in Russian for a mass issue."""
    what = "адрес" if issue.key.startswith("addr:") else "организация"
    n = len(issue.items)
    subject = f"Массовые жалобы: {count(n, APPEALS)} за сутки, {what} «{_snippet(issue.name, 60)}»"
    lines = [subject, "", "Открытые обращения разных авторов за последние 24 часа:"]
    names = labels or TOPIC_LABELS
    for item in issue.items[:MAX_LISTED]:
        topic = names.get(item.topic or UNCLASSIFIED, item.topic or "без темы")
        lines.append(f"• №{item.id}, {platform_title(item.platform)}, «{topic}»")
        _author_and_link(lines, item, base_url)
    if n > MAX_LISTED:
        lines.append(f"…и ещё {count(n - MAX_LISTED, APPEALS)}")
    return subject, "\n".join(lines)


def mass_issues_once(
    engine: Engine,
    notifiers: Sequence[Notifier],
    now: datetime,
    threshold: int,
    *,
    base_url: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> int:
    """Tell the supervisors once a day about each organisation or address that ``threshold``
    open complaints of the last 24 hours name (``find_mass_issues``). Each key is claimed in
    ``mass_alerts`` before its message goes out, so several workers announce it once; if no
    channel delivered, the claim is given back and the next run tries again. Without
    notifiers nothing is claimed. Returns how many issues were announced."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    if not notifiers:
        return 0
    log = get_logger(step="mass_issues")
    announced = 0
    for issue in find_mass_issues(engine, now, threshold):
        with engine.begin() as conn:
            if not inbox.claim_mass_alert(conn, issue.key, len(issue.items), now):
                continue
        subject, text = format_mass_message(issue, base_url, labels)
        outcome = send_to_all(notifiers, subject, text)
        failed = {name: reason for name, reason in outcome.items() if reason is not None}
        with engine.begin() as conn:
            inbox.audit(
                conn,
                now,
                WORKER,
                "mass_issue_alert",
                None,
                key=issue.key,
                incidents=[item.id for item in issue.items[:MAX_LISTED]],
                failed=failed,
            )
            if failed and len(failed) == len(outcome):
                inbox.release_mass_alert(conn, issue.key, now)
                log.warning("mass_issue_not_sent", key=issue.key, failed=failed)
                continue
        announced += 1
        log.info("mass_issue_alert", key=issue.key, incidents=len(issue.items))
    return announced


__all__ = [
    "MassIssue",
    "find_mass_issues",
    "format_mass_message",
    "format_message",
    "mass_issues_once",
    "warn_breaches_once",
]
