"""The web app's cache of month figures, dropped when an incident of the month changes.

Writes nothing to the database: it reads the ``changed_at`` stamps the triggers keep.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, func, literal_column, select

from incident import db
from incident.stats.filters import Filters
from incident.stats.model import MonthFigures

incident = db.incidents.c  # the incidents table's columns, as in SQL's "incidents AS incident"


class _Change(NamedTuple):
    """A change seen by ``refresh``: its generation, and the month it falls in (by opened_at)."""

    generation: int
    opened_at: datetime


class StatsCache:
    """Month figures kept between views: the web app holds one, so a year's page reads again
    only the months that changed since it last computed them (and the current one, which
    changes all day). Exact: a cached month is the same figures a fresh read gives.

    How a change is seen: triggers stamp ``incidents.changed_at`` with the database's clock on
    every write to an incident or to its outbox rows (migration 0005). Each ``refresh`` reads,
    through the index, the incidents stamped since the previous look minus ``MARGIN`` (a
    transaction stamps at its start and becomes visible at commit, so one that ran for less
    than ``MARGIN`` is never missed) and drops the months their ``opened_at`` falls in
    (``opened_at`` never changes after insert). A month also expires when one of its
    deadlines passes (``MonthFigures.valid_until``), since that changes its overdue count.

    Thread-safe: the web app computes in a thread pool. A month is not kept when a change to
    it was seen after its computation started (it may predate that change).
    """

    MARGIN = 600.0  # seconds

    def __init__(self, max_months: int = 120) -> None:  # a year, whole and per platform
        self.max_months = max_months
        self.hits = 0
        self.misses = 0
        self._months: OrderedDict[Filters, MonthFigures] = OrderedDict()
        self._lock = threading.Lock()
        self._mark: float | None = None  # the database clock at the last look
        self._seen: dict[int, float] = {}  # incident -> stamp, for stamps inside the margin
        self._generation = 0  # bumped for each change seen
        self._changes: deque[_Change] = deque(maxlen=10_000)

    def refresh(self, conn: Connection) -> int:
        """Drop the months with changes since the last look; returns the generation to ``put``
        the months computed from now on with."""
        clock = float(conn.execute(select(_database_clock(conn))).scalar_one())
        with self._lock:
            since = (self._mark if self._mark is not None else clock) - self.MARGIN
        changed = conn.execute(
            select(incident.id, incident.changed_at, incident.opened_at).where(
                incident.changed_at >= since
            )
        ).all()
        with self._lock:
            for incident_id, stamp, opened_at in changed:
                if self._seen.get(incident_id) == stamp:
                    continue
                self._seen[incident_id] = stamp
                self._generation += 1
                self._changes.append(_Change(self._generation, opened_at))
                for key in [k for k in self._months if k.start <= opened_at < k.end]:
                    del self._months[key]
            horizon = clock - self.MARGIN
            self._seen = {i: s for i, s in self._seen.items() if s >= horizon}
            self._mark = clock if self._mark is None else max(self._mark, clock)
            return self._generation

    def get(self, piece: Filters, now: datetime) -> MonthFigures | None:
        """The kept figures of ``piece`` if they still hold at ``now``; counts a hit or a miss."""
        with self._lock:
            month = self._months.get(piece)
            if month is None or not month.holds_at(now):
                self.misses += 1
                return None
            self._months.move_to_end(piece)
            self.hits += 1
            return month

    def put(self, piece: Filters, month: MonthFigures, generation: int) -> None:
        """Keep ``month``, computed after ``refresh`` returned ``generation``, unless a change
        to it has been seen since (then it may be stale); the least recently used go first."""
        with self._lock:
            if self._changes and self._changes[0].generation > generation + 1:
                return  # the changes since are no longer all known
            if any(
                seen > generation and piece.start <= opened_at < piece.end
                for seen, opened_at in self._changes
            ):
                return  # changed while it was computed
            self._months[piece] = month
            self._months.move_to_end(piece)
            while len(self._months) > self.max_months:
                self._months.popitem(last=False)

    def __len__(self) -> int:
        return len(self._months)


def _database_clock(conn: Connection) -> ColumnElement[Any]:
    """Now on the database's clock, in epoch seconds: the clock the triggers stamp with."""
    if conn.dialect.name == "sqlite":
        return literal_column("((julianday('now') - 2440587.5) * 86400.0)")
    return func.extract("epoch", func.now())
