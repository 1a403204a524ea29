"""Is the deployment working? The checks behind ``incident health`` (for scripts and
monitoring) and the web app's ``/readyz``.

Each check says ok or names the problem in a plain sentence:

* **database**: reachable, and its schema at the shipped migrations' head;
* **worker**: some worker process has recorded a heartbeat in the last ``WORKER_SILENT_AFTER``
  (only when sources are configured: a deployment without them runs no worker);
* **source <name>**: each enabled source has succeeded within ``max_intervals`` of its sweep
  interval, and is not stopped by a permanent fault (a broken token: a person must act);
* **outbox**: no reply has waited more than ``OUTBOX_STUCK_AFTER`` past its due time;
* **warnings** / **sending** / **repeats**: the live workers' SLA warning step, reply sender
  and repeat step (grouping near-duplicates) did not fail on their last run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from incident import db, inbox, migrate
from incident.config import Config
from incident.models import OutboxStatus, SourceState
from incident.words import count_en

WORKER_SILENT_AFTER = timedelta(seconds=60)
OUTBOX_STUCK_AFTER = timedelta(minutes=10)
DEFAULT_MAX_INTERVALS = 3


@dataclass(frozen=True, slots=True)
class Check:
    """One check's verdict: what was checked, whether it is fine, and in what words."""

    name: str
    ok: bool
    detail: str


def check_database(engine: Engine) -> Check:
    """The database answers and its schema is current."""
    try:
        current = migrate.current_revision(engine)
    except SQLAlchemyError as exc:
        return Check("database", False, f"unreachable: {type(exc).__name__}: {exc}".strip())
    head = migrate.head_revision()
    if current != head:
        return Check(
            "database",
            False,
            f"schema at {current or 'nothing'}, needs {head}: run `incident db upgrade`",
        )
    return Check("database", True, f"reachable, schema {head} (current)")


def check_health(
    engine: Engine, config: Config, now: datetime, *, max_intervals: int = DEFAULT_MAX_INTERVALS
) -> list[Check]:
    """Every check, in the order above; the database's failure makes the rest unknowable."""
    database = check_database(engine)
    if not database.ok:
        return [database]
    checks = [database]
    sources = config.enabled_sources()
    with engine.connect() as conn:
        workers = inbox.worker_states(conn)
        states = inbox.source_states(conn)
        stuck = int(
            conn.execute(
                select(func.count())
                .select_from(db.outbox)
                .where(
                    or_(
                        and_(
                            db.outbox.c.status == OutboxStatus.PENDING.value,
                            db.outbox.c.next_attempt_at < now - OUTBOX_STUCK_AFTER,
                        ),
                        and_(
                            db.outbox.c.status == OutboxStatus.SENDING.value,
                            db.outbox.c.lease_until < now - OUTBOX_STUCK_AFTER,
                        ),
                    )
                )
            ).scalar_one()
        )
    live = [w for w in workers if now - w.beat_at <= WORKER_SILENT_AFTER]
    if sources:
        if live:
            names = ", ".join(w.worker for w in live)
            checks.append(Check("worker", True, f"{len(live)} alive ({names})"))
        else:
            last = (
                f"last heard {_ago(now - workers[0].beat_at)} ago" if workers else "none is running"
            )
            checks.append(
                Check("worker", False, f"no worker alive ({last}): is `incident run` running?")
            )
    running_since = min((w.started_at for w in live), default=None)
    for source in sources:
        limit = config.sweep_interval(source.name) * max_intervals
        checks.append(
            _source_check(source.name, states.get(source.name), now, limit, running_since)
        )
    if stuck:
        checks.append(
            Check(
                "outbox",
                False,
                f"{count_en(stuck, 'reply', 'replies')} waiting more than "
                f"{_ago(OUTBOX_STUCK_AFTER)} past their time",
            )
        )
    else:
        checks.append(Check("outbox", True, "no reply stuck"))
    for part, name, label in (
        ("warnings", "warnings", "SLA warnings"),
        ("outbox", "sending", "reply sender"),
        ("repeats", "repeats", "grouping of repeats"),
    ):
        failing = [
            (w.worker, w.parts[part])
            for w in live
            if isinstance(w.parts, dict)
            and isinstance(w.parts.get(part), dict)
            and w.parts[part].get("error_at", "") > w.parts[part].get("ok_at", "")
        ]
        if failing:
            worker, state = failing[0]
            checks.append(
                Check(name, False, f"{label} failed on {worker}: {state.get('error', '')}")
            )
        elif live:
            checks.append(Check(name, True, f"{label}: last run fine"))
    return checks


def _source_check(
    name: str, state: object, now: datetime, limit: float, running_since: datetime | None
) -> Check:
    label = f"source {name}"
    allowed = timedelta(seconds=limit)
    if state is None:
        if running_since is not None and now - running_since < allowed:
            return Check(label, True, "not polled yet (the worker started recently)")
        return Check(label, False, "never polled successfully")
    st = state
    if getattr(st, "state", None) == SourceState.STOPPED.value:
        return Check(label, False, f"stopped: {getattr(st, 'last_error', '')}")
    success = getattr(st, "last_success_at", None)
    if success is None or now - success > allowed:
        since = "never" if success is None else f"{_ago(now - success)} ago"
        error = getattr(st, "last_error", None)
        return Check(
            label,
            False,
            f"no successful poll for longer than {_ago(allowed)} (last: {since})"
            + (f"; last error: {error}" if error else ""),
        )
    return Check(label, True, f"last success {_ago(now - success)} ago")


def _ago(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
