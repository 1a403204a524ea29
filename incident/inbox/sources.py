"""Per-source state: the cursors a sweep resumes from, the source's health, and the lease that
lets one worker at a time poll a source."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, or_, select

from incident import db
from incident.inbox._sql import upsert
from incident.inbox.storable import storable_text
from incident.models import SourceState

# --- cursors -----------------------------------------------------------------------------


def load_cursors(conn: Connection, source: str) -> dict[str, str]:
    """The cursors ``source`` stored with its last committed batch (empty at first)."""
    rows = conn.execute(
        select(db.cursors.c.key, db.cursors.c.value).where(db.cursors.c.source == source)
    )
    return {r.key: r.value for r in rows}


def save_cursors(conn: Connection, source: str, values: Mapping[str, str], now: datetime) -> None:
    """Upsert ``values`` into ``source``'s cursors; keys not given keep their values.
    ``ingest`` calls this in the batch's transaction, so the cursors move with the data."""
    save_cursors_of(conn, [(source, values)], now)


def save_cursors_of(
    conn: Connection, items: Sequence[tuple[str, Mapping[str, str]]], now: datetime
) -> None:
    """``save_cursors`` for several sources in one statement; where a source and key come
    twice, the later value wins."""
    values = {(source, k): v for source, cursors in items for k, v in cursors.items()}
    if not values:
        return
    stmt = upsert(conn, db.cursors)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source", "key"],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
    )
    conn.execute(
        stmt,
        [
            {"source": source, "key": k, "value": v, "updated_at": now}
            for (source, k), v in values.items()
        ],
    )


# --- source status -----------------------------------------------------------------------


def record_source_success(
    conn: Connection, source: str, platform: str, now: datetime, *, api_calls: int, swept: bool
) -> None:
    """Mark ``source`` healthy after a run: state ``ok``, last success (and last sweep if
    ``swept``) at ``now``, ``api_calls`` added to its total. The last error is kept."""
    record_sources_success(conn, [(source, platform, api_calls)], now, swept=swept)


def record_sources_success(
    conn: Connection, runs: Sequence[tuple[str, str, int]], now: datetime, *, swept: bool
) -> None:
    """``record_source_success`` for several (source, platform, API calls) runs in one
    statement; a source named twice has its calls added up."""
    calls: dict[str, int] = {}
    platforms: dict[str, str] = {}
    for source, platform, api_calls in runs:
        calls[source] = calls.get(source, 0) + api_calls
        platforms[source] = platform
    if not calls:
        return
    table = db.source_status
    rows = [
        {
            "source": source,
            "platform": platforms[source],
            "state": SourceState.OK.value,
            "last_success_at": now,
            **({"last_sweep_at": now} if swept else {}),
            "updated_at": now,
            "api_calls": n,
        }
        for source, n in calls.items()
    ]
    stmt = upsert(conn, table)
    changed = ["state", "last_success_at", *(["last_sweep_at"] if swept else [])]
    stmt = stmt.on_conflict_do_update(
        index_elements=["source"],
        set_={
            **{k: stmt.excluded[k] for k in changed},
            "updated_at": now,
            "api_calls": table.c.api_calls + stmt.excluded.api_calls,
        },
    )
    conn.execute(stmt, rows)


def record_source_error(
    conn: Connection, source: str, platform: str, now: datetime, state: SourceState, error: str
) -> None:
    """Record a fault of ``source``: ``state`` (degraded or stopped) and the error (cut to
    2,000 characters) at ``now``."""
    _upsert_status(
        conn,
        source,
        platform,
        now,
        state=state.value,
        last_error_at=now,
        last_error=storable_text(error[:2000]),
    )


def _upsert_status(
    conn: Connection,
    source: str,
    platform: str,
    now: datetime,
    *,
    api_calls_add: int = 0,
    **values: Any,
) -> None:
    stmt = upsert(conn, db.source_status).values(
        source=source, platform=platform, updated_at=now, api_calls=api_calls_add, **values
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["source"],
        set_={
            **{k: stmt.excluded[k] for k in values},
            "updated_at": now,
            "api_calls": db.source_status.c.api_calls + api_calls_add,
        },
    )
    conn.execute(stmt)


def source_states(conn: Connection) -> dict[str, Any]:
    """Every source's status row, by source name."""
    return {r.source: r for r in conn.execute(select(db.source_status))}


# --- source leases -------------------------------------------------------------------------


def take_source_lease(
    conn: Connection, source: str, owner: str, now: datetime, ttl: timedelta
) -> bool:
    """Take or renew the lease on polling ``source`` until ``now + ttl``. True if ``owner``
    holds it now: it was free, expired, or already ``owner``'s. One statement, so two workers
    asking at once cannot both win."""
    return source in take_source_leases(conn, [source], owner, now, ttl)


def take_source_leases(
    conn: Connection, sources: Sequence[str], owner: str, now: datetime, ttl: timedelta
) -> set[str]:
    """``take_source_lease`` for many sources in one statement (a worker's heartbeat renews
    all its leases at once): the sources ``owner`` holds now."""
    if not sources:
        return set()
    stmt = upsert(conn, db.source_leases)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source"],
        set_={
            "owner": stmt.excluded.owner,
            "lease_until": stmt.excluded.lease_until,
            "updated_at": stmt.excluded.updated_at,
        },
        where=or_(
            db.source_leases.c.owner == owner,
            db.source_leases.c.lease_until < now,
        ),
    ).returning(db.source_leases.c.source, db.source_leases.c.owner)
    rows = conn.execute(
        stmt,
        [
            {"source": s, "owner": owner, "lease_until": now + ttl, "updated_at": now}
            for s in dict.fromkeys(sources)
        ],
    )
    return {str(r.source) for r in rows if r.owner == owner}


def release_source(conn: Connection, source: str, owner: str) -> None:
    """Give up ``owner``'s lease on ``source`` (at shutdown); a lease held by someone else
    is left alone."""
    conn.execute(
        delete(db.source_leases).where(
            db.source_leases.c.source == source, db.source_leases.c.owner == owner
        )
    )


def lease_owners(conn: Connection) -> set[str]:
    """Every worker id holding a source lease now (live or not)."""
    return {str(o) for o in conn.execute(select(db.source_leases.c.owner)).scalars()}


def release_owner(conn: Connection, owner: str) -> list[str]:
    """Give up every source lease ``owner`` holds (a worker known to be dead); the sources
    it held, which the caller should sweep at once."""
    rows = conn.execute(
        delete(db.source_leases)
        .where(db.source_leases.c.owner == owner)
        .returning(db.source_leases.c.source)
    )
    return sorted(str(r) for r in rows.scalars())
