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

from incident import db, inbox, sla
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
        lines.append(f"  {item.author or 'Автор'}: {_snippet(item.text)}")
        if base_url:
            lines.append(f"  {base_url.rstrip('/')}/incidents/{item.id}")
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


__all__ = ["format_message", "warn_breaches_once"]
