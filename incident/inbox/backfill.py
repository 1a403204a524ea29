"""Backfills of the figures stored with an answer, for rows written before they existed.

``incident db upgrade`` runs both after the migrations; running them again fills nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Boolean, Connection, bindparam, select, update

from incident import db
from incident.sla import SlaSettings, response_figures

_INCIDENT = db.incidents.c


def backfill_response_figures(conn: Connection, settings: SlaSettings, batch: int = 1000) -> int:
    """Fill the figures of answered incidents that have none (answered before migration 0003).
    Returns how many rows were filled; running it again fills nothing."""
    filled = 0
    last_id = 0
    stmt = (
        update(db.incidents)
        .where(_INCIDENT.id == bindparam("b_id"))
        .values(
            response_seconds=bindparam("b_rs"),
            response_working_seconds=bindparam("b_rws"),
            on_time=bindparam("b_on_time", type_=Boolean),
        )
    )
    while True:
        rows = conn.execute(
            select(_INCIDENT.id, _INCIDENT.opened_at, _INCIDENT.first_response_at, _INCIDENT.due_at)
            .where(
                _INCIDENT.first_response_at.is_not(None),
                _INCIDENT.response_seconds.is_(None),
                _INCIDENT.id > last_id,
            )
            .order_by(_INCIDENT.id)
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
