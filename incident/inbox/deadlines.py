"""The SLA step's writes to incidents: the warning and breach marks it claims and releases, and
the warning times it fills in for incidents stored before ``warn_at`` existed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, func, literal, update

from incident import db
from incident.inbox.audit import audit_each
from incident.models import WORKER, IncidentStatus

MarkStage = Literal["warn", "breach"]


def claim_deadline_marks(
    conn: Connection, stage: MarkStage, ids: Sequence[int], now: datetime
) -> list[int]:
    """Set the ``stage`` mark (``warned_at`` or ``breach_notified_at``) to ``now`` on those of
    ``ids`` that are open and not yet marked, with one conditional UPDATE, so of several workers
    exactly one claims each incident. A breach also sets ``warned_at`` if the warning was
    skipped. Each claim is audited (``sla_warn``/``sla_breach``). Returns the claimed ids,
    sorted."""
    if not ids:
        return []
    i = db.incidents.c
    column = i.breach_notified_at if stage == "breach" else i.warned_at
    values: dict[str, Any] = {column.key: now}
    if stage == "breach":
        values["warned_at"] = func.coalesce(i.warned_at, literal(now, db.UtcDateTime))
    claimed = [
        int(r[0])
        for r in conn.execute(
            update(db.incidents)
            .where(i.id.in_(list(ids)), column.is_(None), i.status == IncidentStatus.OPEN.value)
            .values(**values)
            .returning(i.id)
        )
    ]
    audit_each(conn, now, WORKER, f"sla_{stage}", claimed)
    return sorted(claimed)


def release_deadline_marks(
    conn: Connection, stage: MarkStage, ids: Sequence[int], now: datetime
) -> None:
    """Undo ``claim_deadline_marks(stage, ids, now)`` (no channel delivered the message): the
    marks set at ``now`` go back to NULL, a warning claimed with a breach included, so the next
    run tries again. Marks set at another moment are left alone."""
    if not ids:
        return
    i = db.incidents.c
    if stage == "breach":
        conn.execute(
            update(db.incidents)
            .where(i.id.in_(list(ids)), i.breach_notified_at == now)
            .values(breach_notified_at=None)
        )
    conn.execute(
        update(db.incidents).where(i.id.in_(list(ids)), i.warned_at == now).values(warned_at=None)
    )


def store_warn_times(conn: Connection, warn_at: Mapping[int, datetime]) -> None:
    """Fill in ``warn_at`` of incidents that have none (stored before migration 0006), once:
    a row that already has one keeps it."""
    if not warn_at:
        return
    i = db.incidents.c
    conn.execute(
        update(db.incidents)
        .where(i.id == bindparam("b_id"), i.warn_at.is_(None))
        .values(warn_at=bindparam("b_warn_at", type_=db.UtcDateTime)),
        [{"b_id": k, "b_warn_at": v} for k, v in warn_at.items()],
    )
