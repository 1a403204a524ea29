"""Worker heartbeats: each worker process records that it is alive and how its periodic parts
(the SLA warnings, the outbox sender) last went, for ``incident health`` and the metrics."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select

from incident import db
from incident.inbox._sql import upsert

FORGET_AFTER = timedelta(days=1)  # a worker silent this long is forgotten


def record_worker_beat(
    conn: Connection,
    worker: str,
    *,
    host: str,
    pid: int,
    started_at: datetime,
    now: datetime,
    parts: Mapping[str, Mapping[str, Any]],
) -> None:
    """Upsert ``worker``'s heartbeat at ``now`` with its parts' last outcomes, and forget
    workers silent for ``FORGET_AFTER``."""
    stmt = upsert(conn, db.worker_status).values(
        worker=worker,
        host=host,
        pid=pid,
        started_at=started_at,
        beat_at=now,
        parts={k: dict(v) for k, v in parts.items()},
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["worker"],
        set_={"beat_at": stmt.excluded.beat_at, "parts": stmt.excluded.parts},
    )
    conn.execute(stmt)
    conn.execute(delete(db.worker_status).where(db.worker_status.c.beat_at < now - FORGET_AFTER))


def forget_worker(conn: Connection, worker: str) -> None:
    """Remove ``worker``'s heartbeat (it stopped cleanly)."""
    conn.execute(delete(db.worker_status).where(db.worker_status.c.worker == worker))


def worker_states(conn: Connection) -> list[Any]:
    """Every known worker's heartbeat row, the most recent first."""
    return list(conn.execute(select(db.worker_status).order_by(db.worker_status.c.beat_at.desc())))
