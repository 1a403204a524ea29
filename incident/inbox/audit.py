"""The audit log: one row per thing that happened to an incident, a user or the system."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from incident import db


def audit(
    conn: Connection,
    now: datetime,
    actor: str,
    action: str,
    incident_id: int | None = None,
    **details: Any,
) -> None:
    """Append one audit event in the caller's transaction (so it is kept exactly when the
    change it describes is). ``details`` must be JSON-serialisable."""
    conn.execute(
        insert(db.audit_events).values(
            at=now, actor=actor, incident_id=incident_id, action=action, details=details
        )
    )


def audit_each(
    conn: Connection, now: datetime, actor: str, action: str, incident_ids: Sequence[int]
) -> None:
    """``audit(conn, now, actor, action, incident_id)`` for each of ``incident_ids``, in one
    statement: a step that marks hundreds of incidents at once costs one round trip."""
    if incident_ids:
        conn.execute(
            insert(db.audit_events),
            [
                {"at": now, "actor": actor, "incident_id": x, "action": action, "details": {}}
                for x in incident_ids
            ],
        )
