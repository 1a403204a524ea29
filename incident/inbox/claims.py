"""Claims: who works on an incident right now, for a few minutes (a short lease on the card)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from incident import db
from incident.inbox.audit import audit
from incident.inbox.errors import ActionRefused
from incident.models import ACTOR_LABELS, IncidentStatus

CLAIM_FOR = timedelta(minutes=5)


def person(conn: Connection, login: str | None) -> str:
    """The name people know ``login`` by, for messages: the account's display name, the
    automatic actors' label, else the login."""
    if not login:
        return "—"
    name = conn.execute(
        select(db.users.c.display_name).where(db.users.c.username == login)
    ).scalar()
    return str(name or ACTOR_LABELS.get(login) or login)


@dataclass(frozen=True, slots=True)
class Claim:
    """Who holds an incident and until when (either may be None: nobody)."""

    by: str | None
    until: datetime | None

    def held_by_other(self, user: str, now: datetime) -> bool:
        """Whether someone other than ``user`` holds a live claim at ``now``."""
        return (
            self.by is not None and self.by != user and self.until is not None and self.until > now
        )


def incident_row(conn: Connection, incident_id: int, *, lock: bool = False) -> Any:
    """The incident's status, topic, assignee and claim (locked ``FOR UPDATE`` if ``lock``);
    ``ActionRefused`` if there is no such incident."""
    query = select(
        db.incidents.c.id,
        db.incidents.c.source,
        db.incidents.c.status,
        db.incidents.c.topic,
        db.incidents.c.ruleset_version,
        db.incidents.c.assignee,
        db.incidents.c.claimed_by,
        db.incidents.c.claimed_until,
        db.incidents.c.opened_at,
    ).where(db.incidents.c.id == incident_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise ActionRefused(f"инцидента №{incident_id} нет")
    return row


def _claim_is_free(user: str, now: datetime) -> Any:
    return or_(
        db.incidents.c.claimed_by.is_(None),
        db.incidents.c.claimed_by == user,
        db.incidents.c.claimed_until.is_(None),
        db.incidents.c.claimed_until <= now,
    )


def claim(
    conn: Connection, incident_id: int, user: str, now: datetime, *, force: bool = False
) -> Claim:
    """Take (or renew) the incident for ``user`` for a few minutes, with a conditional UPDATE.

    Returns the claim as it stands afterwards: if someone else holds it, theirs. ``force`` takes
    it over from them (recorded in the audit log). Closed or answered incidents are not claimed.
    A claim that was not already ``user``'s is audited ("claimed"); a renewal is not.
    """
    row = incident_row(conn, incident_id)
    if row.status != IncidentStatus.OPEN.value:
        return Claim(row.claimed_by, row.claimed_until)
    where = [db.incidents.c.id == incident_id]
    if not force:
        where.append(_claim_is_free(user, now))
    won = conn.execute(
        update(db.incidents).where(*where).values(claimed_by=user, claimed_until=now + CLAIM_FOR)
    ).rowcount
    if won == 1:
        fresh = row.claimed_by != user or row.claimed_until is None or row.claimed_until <= now
        if fresh:
            details: dict[str, Any] = {}
            if force and Claim(row.claimed_by, row.claimed_until).held_by_other(user, now):
                details["taken_from"] = row.claimed_by
            audit(conn, now, user, "claimed", incident_id, **details)
        return Claim(user, now + CLAIM_FOR)
    row = incident_row(conn, incident_id)
    return Claim(row.claimed_by, row.claimed_until)


def renew_claim(conn: Connection, incident_id: int, user: str, now: datetime) -> None:
    """Hold the incident for ``user`` for a few more minutes, unconditionally and without an
    audit event (the caller has already checked nobody else holds it)."""
    conn.execute(
        update(db.incidents)
        .where(db.incidents.c.id == incident_id)
        .values(claimed_by=user, claimed_until=now + CLAIM_FOR, updated_at=now)
    )


def release(conn: Connection, incident_id: int, user: str, now: datetime) -> bool:
    """Give up ``user``'s claim; False (and nothing audited) if ``user`` did not hold it."""
    done = conn.execute(
        update(db.incidents)
        .where(db.incidents.c.id == incident_id, db.incidents.c.claimed_by == user)
        .values(claimed_by=None, claimed_until=None)
    ).rowcount
    if done:
        audit(conn, now, user, "released", incident_id)
    return bool(done)


def claimed_by_other(user: str, now: datetime) -> Any:
    """A SQL condition: someone other than ``user`` holds a live claim."""
    return and_(
        db.incidents.c.claimed_by.is_not(None),
        db.incidents.c.claimed_by != user,
        db.incidents.c.claimed_until > now,
    )
