"""Stored answer figures, written when an incident is answered: to move into the inbox package.

These update ``incidents`` and ``outbox`` (the inbox's job, not the read model's): kept here
unchanged until the inbox package takes them; ``incident.stats`` re-exports them meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Connection, bindparam, select, update

from incident import db
from incident.sla import SlaSettings
from incident.workcal import working_time_between

_I = db.incidents.c


def response_figures(
    opened_at: datetime,
    first_response_at: datetime,
    due_at: datetime | None,
    settings: SlaSettings,
) -> dict[str, Any]:
    """The columns to store when an incident gets its first answer.

    ``response_seconds``: calendar seconds from the raw clock start; ``response_working_seconds``:
    working seconds under the deployment's calendar (time outside working hours does not
    count, so a comment from Friday night answered at 09:30 on Monday took 30 minutes);
    ``on_time``: ``first_response_at <= due_at`` (None without a deadline). Never negative.
    """
    for value, name in ((opened_at, "opened_at"), (first_response_at, "first_response_at")):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    calendar_seconds = max(0.0, (first_response_at - opened_at).total_seconds())
    working = working_time_between(opened_at, first_response_at, settings.calendar)
    return {
        "response_seconds": round(calendar_seconds),
        "response_working_seconds": round(working.total_seconds()),
        "on_time": None if due_at is None else first_response_at <= due_at,
    }


def backfill_response_figures(conn: Connection, settings: SlaSettings, batch: int = 1000) -> int:
    """Fill the figures of answered incidents that have none (answered before migration 0003).
    Returns how many rows were filled; running it again fills nothing."""
    filled = 0
    last_id = 0
    stmt = (
        update(db.incidents)
        .where(_I.id == bindparam("b_id"))
        .values(
            response_seconds=bindparam("b_rs"),
            response_working_seconds=bindparam("b_rws"),
            on_time=bindparam("b_on_time", type_=Boolean),
        )
    )
    while True:
        rows = conn.execute(
            select(_I.id, _I.opened_at, _I.first_response_at, _I.due_at)
            .where(
                _I.first_response_at.is_not(None),
                _I.response_seconds.is_(None),
                _I.id > last_id,
            )
            .order_by(_I.id)
            .limit(batch)
        ).all()
        if not rows:
            return filled
        params = []
        for r in rows:
            f = response_figures(r.opened_at, r.first_response_at, r.due_at, settings)
            params.append(
                {
                    "b_id": r.id,
                    "b_rs": f["response_seconds"],
                    "b_rws": f["response_working_seconds"],
                    "b_on_time": f["on_time"],
                }
            )
        conn.execute(stmt, params)
        filled += len(rows)
        last_id = rows[-1].id


def backfill_reply_kinds(conn: Connection) -> int:
    """Fill ``outbox.kind`` of replies queued before migration 0003 from the staff app's
    ``reply_sent`` audit events (their details name the outbox row and the kind). Returns how
    many rows were filled; running it again fills nothing."""
    a, ob = db.audit_events.c, db.outbox.c
    kinds: dict[int, str] = {}
    for details in conn.execute(select(a.details).where(a.action == "reply_sent")).scalars():
        if isinstance(details, Mapping):
            outbox_id, kind = details.get("outbox_id"), details.get("kind")
            if isinstance(outbox_id, int) and isinstance(kind, str) and kind:
                kinds[outbox_id] = kind[:32]
    filled = 0
    for outbox_id, kind in kinds.items():
        filled += conn.execute(
            update(db.outbox).where(ob.id == outbox_id, ob.kind.is_(None)).values(kind=kind)
        ).rowcount
    return filled
