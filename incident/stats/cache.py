"""The web app's cache of month figures, whose days are read again when an incident of theirs
changes.

Writes nothing to the database: it reads the ``changed_at`` stamps the triggers keep.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict, deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, func, literal_column, select

from incident import db
from incident.stats.filters import Filters
from incident.stats.model import MonthFigures
from incident.stats.percentiles import percentile_cont

incident = db.incidents.c  # the incidents table's columns, as in SQL's "incidents AS incident"


class _Change(NamedTuple):
    """A change seen by ``refresh``: its generation, and the month it falls in (by opened_at)."""

    generation: int
    opened_at: datetime


class StatsCache:
    """Month figures kept between views: the web app holds one, so a year's page reads again
    only the days that changed since it last computed them (the current month changes all
    day). Exact: a cached month is the same figures a fresh read gives.

    How a change is seen: triggers stamp ``incidents.changed_at`` with the database's clock on
    every write to an incident or to its outbox rows (migration 0005). Each ``refresh`` reads,
    through the index, the incidents stamped since the previous look minus ``MARGIN`` (a
    transaction stamps at its start and becomes visible at commit, so one that ran for less
    than ``MARGIN`` is never missed) and marks stale the local days their ``opened_at`` falls
    in (``opened_at`` never changes after insert). A day is also stale when one of its
    deadlines passes (``MonthFigures.valid_until`` of its part), since that changes its
    overdue count. ``lookup`` gives a month with its stale days, which ``compute`` reads again
    and merges with the others (``merge.replace_days``).

    Thread-safe: the web app computes in a thread pool. A month ``put`` after a change to it
    was seen since its computation started is kept with the changed days stale (they may
    predate the change).
    """

    MARGIN = 600.0  # seconds
    MAX_PERCENTILES = 512  # remembered percentiles (``percentile``), least recently asked out

    def __init__(self, max_months: int = 120) -> None:  # a year, whole and per platform
        self.max_months = max_months
        self.hits = 0
        self.misses = 0  # months looked up that had to be read, whole or some of their days
        self.days_read = 0  # stale days of kept months given to be read again
        self.percentiles_computed = 0  # by ``percentile``: not remembered
        self._months: OrderedDict[Filters, MonthFigures] = OrderedDict()
        self._stale: dict[Filters, set[int]] = {}  # month -> days changed since computed
        self._lock = threading.Lock()
        self._mark: float | None = None  # the database clock at the last look
        self._seen: dict[int, float] = {}  # incident -> stamp, for stamps inside the margin
        self._generation = 0  # bumped for each change seen
        self._changes: deque[_Change] = deque(maxlen=10_000)
        self._percentiles: OrderedDict[
            tuple[float, ...], tuple[tuple[array[int], ...], float | None]
        ] = OrderedDict()

    def refresh(self, conn: Connection) -> int:
        """Mark stale the days with changes since the last look; returns the generation to
        ``put`` the months computed from now on with."""
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
                for key in self._months:
                    if key.start <= opened_at < key.end:
                        self._stale.setdefault(key, set()).add(day_index(key, opened_at))
            horizon = clock - self.MARGIN
            self._seen = {i: s for i, s in self._seen.items() if s >= horizon}
            self._mark = clock if self._mark is None else max(self._mark, clock)
            return self._generation

    def lookup(self, piece: Filters, now: datetime) -> tuple[MonthFigures | None, frozenset[int]]:
        """The kept figures of ``piece`` (None: not kept) and the local days of it (indexes)
        that must be read again at ``now``: changed since, or past one of their deadlines.
        Counts a hit when there are none, else a miss."""
        with self._lock:
            month = self._months.get(piece)
            if month is None:
                self.misses += 1
                return None, frozenset()
            self._months.move_to_end(piece)
            stale = set(self._stale.get(piece, ()))
            if not month.holds_at(now):
                stale.update(i for i, part in month.parts.items() if not part.holds_at(now))
            if stale:
                self.misses += 1
                self.days_read += len(stale)
            else:
                self.hits += 1
            return month, frozenset(stale)

    def put(self, piece: Filters, month: MonthFigures, generation: int) -> None:
        """Keep ``month``, computed after ``refresh`` returned ``generation``; the days with a
        change seen since are kept stale (their figures may predate it). Not kept when the
        changes since are no longer all known. The least recently used months go first."""
        with self._lock:
            if self._changes and self._changes[0].generation > generation + 1:
                return  # the changes since are no longer all known
            self._months[piece] = month
            self._months.move_to_end(piece)
            self._stale[piece] = {
                day_index(piece, opened_at)
                for seen, opened_at in self._changes
                if seen > generation and piece.start <= opened_at < piece.end
            }
            while len(self._months) > self.max_months:
                dropped, _ = self._months.popitem(last=False)
                self._stale.pop(dropped, None)

    def percentile(self, runs: Sequence[array[int]], p: float) -> float | None:
        """``percentiles.percentile_cont(runs, p)``, remembered for the very same runs: the
        kept months' sorted arrays are never changed in place (a changed month gets new
        ones), so the same arrays hold the same values. The per-person table asks for 4
        percentiles of each actor over the period's months at every view, and most actors'
        months did not change since the last one."""
        key = (p, *map(id, runs))
        with self._lock:
            found = self._percentiles.get(key)
            if found is not None:
                self._percentiles.move_to_end(key)
        if found is not None and all(a is b for a, b in zip(found[0], runs, strict=True)):
            return found[1]
        value = percentile_cont(runs, p)
        with self._lock:
            self.percentiles_computed += 1
            self._percentiles[key] = (tuple(runs), value)  # the runs kept: their ids stay theirs
            while len(self._percentiles) > self.MAX_PERCENTILES:
                # the least recently asked go first: those of months changed since. Forgetting
                # them all at once made every few views compute every actor's anew (the
                # per-person table's p95 was twice its median on SQLite).
                self._percentiles.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._months)


def day_index(piece: Filters, moment: datetime) -> int:
    """The local day of ``piece`` (0 = its first) that ``moment``, inside it, falls in."""
    tz = piece.tz
    first = piece.start.astimezone(tz).date()
    return (moment.astimezone(tz).date() - first).days


def _database_clock(conn: Connection) -> ColumnElement[Any]:
    """Now on the database's clock, in epoch seconds: the clock the triggers stamp with."""
    if conn.dialect.name == "sqlite":
        return literal_column("((julianday('now') - 2440587.5) * 86400.0)")
    return func.extract("epoch", func.now())
