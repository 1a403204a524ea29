"""Response-time statistics for supervisors: figures, daily series, server-side SVG charts.

Answer times are stored when an incident gets its first answer (``response_figures``, called by
the inbox; ``backfill_response_figures`` for older rows), so no working-hours arithmetic runs
at query time. A period is cut at local month starts (``months``); each month's figures
(``compute_part``: counts by day and topic from the covering index, daily medians, and the
month's answer times sorted) merge exactly into the period's: counts add up and the median and
p90 are ``percentile_cont``'s linear interpolation over the union of the sorted months, found
by bisection (``_percentile``). The web app keeps months in a ``StatsCache`` and recomputes
only those that changed, so a year's page reads the million rows once, not on every view
(figures in the README, from ``bench/stats.py``).

Definitions (what the page and the monthly report show)
--------------------------------------------------------
* The period selects incidents by ``opened_at`` (the raw clock start), half-open
  ``[start, end)``; days are local days in the deployment's time zone.
* "Comments" are incidents: citizens' comments that opened one.
* Only human answers count: an incident is *answered* when it has a first answer by a person,
  whether sent from here (``first_response_by`` = the staff user) or typed directly in the
  platform's own interface (``"platform"``: also a person, the community's staff). Answers by
  an automatic actor (``AUTOMATIC_ACTORS``: the worker acting on its own; none exist yet)
  count as unanswered, and automatic replies are not counted as moves or redirects.
* *On time*: answered with ``first_response_at <= due_at``. The on-time share is on-time
  answers over the incidents whose fate is known: answered ones plus the ones past due
  without a human answer (and not closed as needing none). Open incidents not yet due are
  not counted either way.
* *Answered share*: answered over the incidents that needed an answer (closed as "no answer
  needed" without an answer are left out).
* *Open now* / *overdue now* describe the queue at ``now`` and ignore the period (the other
  filters apply): an old incident still open matters whatever period is on screen.
* The person filter matches incidents that person answered or is assigned to.
"""

from __future__ import annotations

import html
import math
import statistics
import threading
from array import array
from bisect import bisect_right
from collections import OrderedDict, defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CTE,
    Boolean,
    ColumnElement,
    Connection,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    column,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)

from incident import db
from incident.models import AUTOMATIC_ACTORS, TOPIC_LABELS, UNCLASSIFIED
from incident.sla import SlaSettings
from incident.workcal import working_time_between

SLOWEST_LIMIT = 10


_I = db.incidents.c


# ----- stored figures ---------------------------------------------------------------------


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


# ----- filters and results ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filters:
    """What the supervisor chose. ``start``/``end``: aware datetimes, ``[start, end)``."""

    start: datetime
    end: datetime
    community: str | None = None
    platform: str | None = None
    topic: str | None = None
    person: str | None = None
    timezone: str = "Europe/Moscow"

    def __post_init__(self) -> None:
        for value, name in ((self.start, "start"), (self.end, "end")):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, got {value!r}")
        if not self.start < self.end:
            raise ValueError(f"the period is empty: {self.start} .. {self.end}")
        ZoneInfo(self.timezone)  # raises on an unknown zone

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def for_days(
        cls, first: date, last: date, timezone: str = "Europe/Moscow", **kw: str | None
    ) -> Filters:
        """The local days ``first`` .. ``last`` inclusive."""
        tz = ZoneInfo(timezone)
        return cls(
            start=datetime.combine(first, time(0), tzinfo=tz),
            end=datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz),
            timezone=timezone,
            **kw,
        )

    @classmethod
    def for_month(
        cls, year: int, month: int, timezone: str = "Europe/Moscow", **kw: str | None
    ) -> Filters:
        first = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls.for_days(first, following - timedelta(days=1), timezone, **kw)

    def local_days(self) -> tuple[date, ...]:
        tz = self.tz
        first = self.start.astimezone(tz).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(tz).date()
        return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))


@dataclass(frozen=True, slots=True)
class TopicRow:
    topic: str
    comments: int
    answered: int
    on_time: int
    overdue: int  # past due at ``now`` without a human answer, not closed


@dataclass(frozen=True, slots=True)
class DailyResponse:
    day: date
    answered: int
    median_working_hours: float | None
    median_hours: float | None


@dataclass(frozen=True, slots=True)
class SlowIncident:
    id: int
    community: str
    platform: str
    topic: str
    opened_at: datetime
    first_response_at: datetime
    first_response_by: str | None
    working_hours: float
    hours: float

    @property
    def url(self) -> str:
        return f"/incidents/{self.id}"


@dataclass(frozen=True, slots=True)
class Stats:
    filters: Filters
    now: datetime
    comments: int
    answered: int
    closed_without_answer: int
    on_time: int
    late: int  # answered after the deadline
    overdue_unanswered: int  # opened in the period, past due, no human answer, not closed
    median_working_hours: float | None
    p90_working_hours: float | None
    median_hours: float | None
    p90_hours: float | None
    open_now: int
    overdue_now: int
    moves_to_private: int
    redirects: int
    days: tuple[date, ...]
    # (topic, counts per day aligned with ``days``), the busiest topic first
    daily_volume: tuple[tuple[str, tuple[int, ...]], ...]
    daily_response: tuple[DailyResponse, ...]  # aligned with ``days``
    by_topic: tuple[TopicRow, ...]
    slowest: tuple[SlowIncident, ...]
    automatic_actors: tuple[str, ...] = field(default=AUTOMATIC_ACTORS)

    @property
    def on_time_share(self) -> float | None:
        known = self.answered + self.overdue_unanswered
        return self.on_time / known if known else None

    @property
    def answered_share(self) -> float | None:
        needed = self.comments - self.closed_without_answer
        return self.answered / needed if needed else None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types only: dates and datetimes as ISO 8601 strings."""
        data = asdict(self)
        data["on_time_share"] = self.on_time_share
        data["answered_share"] = self.answered_share
        data["daily_volume"] = {topic: list(counts) for topic, counts in self.daily_volume}
        for item, row in zip(data["slowest"], self.slowest, strict=True):
            item["url"] = row.url
        result: dict[str, Any] = _jsonable(data)
        return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# ----- queries ----------------------------------------------------------------------------


def _human_answer() -> ColumnElement[bool]:
    return and_(
        _I.first_response_at.is_not(None),
        func.coalesce(_I.first_response_by, "").not_in(AUTOMATIC_ACTORS),
    )


def scope(filters: Filters, *, period: bool = True) -> list[ColumnElement[bool]]:
    """The conditions on incidents that ``filters`` mean: the one definition of each filter,
    shared by the statistics and the exports."""
    conds: list[ColumnElement[bool]] = []
    if period:
        conds += [_I.opened_at >= filters.start, _I.opened_at < filters.end]
    if filters.community is not None:
        conds.append(_I.community == filters.community)
    if filters.platform is not None:
        conds.append(_I.platform == filters.platform)
    if filters.topic == UNCLASSIFIED:
        conds.append(or_(_I.topic.is_(None), _I.topic == UNCLASSIFIED))
    elif filters.topic is not None:
        conds.append(_I.topic == filters.topic)
    if filters.person is not None:
        conds.append(or_(_I.first_response_by == filters.person, _I.assignee == filters.person))
    return conds


def _day_bounds(conn: Connection, filters: Filters) -> CTE:
    """A table (i, lo, hi): each local day's UTC span, clipped to the period.

    Joining incidents on ``lo <= opened_at < hi`` buckets them into local days with index
    range scans and no per-row time-zone arithmetic, exactly across daylight-saving changes.
    The moments are inlined as literals (we make them from datetimes; nothing comes from a
    user): a year's 1,100 bound parameters cost more to compile than the query takes to run.
    """
    tz = filters.tz
    sqlite = conn.dialect.name == "sqlite"

    def literal(moment: datetime) -> str:
        utc = moment.astimezone(UTC)
        if sqlite:  # the text form SQLAlchemy stores SQLite datetimes in
            return f"'{utc.replace(tzinfo=None).isoformat(sep=' ', timespec='microseconds')}'"
        return f"TIMESTAMPTZ '{utc.isoformat()}'"

    rows = []
    for i, d in enumerate(filters.local_days()):
        lo = max(filters.start, datetime.combine(d, time(0), tzinfo=tz))
        hi = min(filters.end, datetime.combine(d + timedelta(days=1), time(0), tzinfo=tz))
        rows.append(f"({i}, {literal(lo)}, {literal(hi)})")
    # ORDER BY: PostgreSQL then knows the join's output comes day by day (no sort to group)
    values_sql = ", ".join(rows)
    head = "SELECT column1 AS i, column2 AS lo, column3 AS hi FROM (VALUES "
    sql = f"{head}{values_sql}) AS v ORDER BY column1"  # the literals are made above
    return (
        text(sql)
        .columns(column("i", Integer), column("lo", db.UtcDateTime), column("hi", db.UtcDateTime))
        .cte("days")
    )


def _hours(seconds: Any) -> float | None:
    return None if seconds is None else float(seconds) / 3600


def _percentile_cont(ordered: Sequence[float], p: float) -> float | None:
    """PostgreSQL's percentile_cont over already sorted values (linear interpolation)."""
    if not ordered:
        return None
    position = p * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def _kth(runs: Sequence[Sequence[int]], k: int) -> int:
    """The ``k``-th smallest (0-based) of the values of several sorted runs, by bisecting the
    value range: no merge, ~30 steps of one ``bisect`` per run."""
    live = [r for r in runs if r]
    if len(live) == 1:
        return live[0][k]
    lo, hi = min(r[0] for r in live), max(r[-1] for r in live)
    while lo < hi:
        mid = (lo + hi) // 2
        if sum(bisect_right(r, mid) for r in live) > k:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _percentile(runs: Sequence[Sequence[int]], p: float) -> float | None:
    """PostgreSQL's ``percentile_cont`` (linear interpolation) over the union of sorted runs."""
    n = sum(len(r) for r in runs)
    if not n:
        return None
    position = p * (n - 1)
    low = math.floor(position)
    v_low = _kth(runs, low)
    v_high = _kth(runs, low + 1) if low + 1 < n else v_low
    return v_low + (position - low) * (v_high - v_low)


@dataclass(frozen=True, slots=True)
class Part:
    """The figures of one calendar month of the period (or the clipped piece of one): what the
    statistics cache keeps, and what merges into a period's figures.

    Everything here depends on the incidents opened in ``[start, end)`` only, and on ``now``
    only through the overdue counts, which hold until ``valid_until`` (the earliest deadline
    still ahead; None: none ahead, they hold until an incident changes)."""

    start: datetime
    end: datetime
    per_topic: Mapping[str, tuple[int, ...]]  # comments, answered, on time, late, closed, overdue
    volume: Mapping[str, tuple[int, ...]]  # per local day of the part
    daily: Mapping[int, tuple[int, float | None, float | None]]  # day -> answered, medians (h)
    working: array[int]  # sorted working seconds of the human answers
    calendar: array[int]  # sorted calendar seconds of the human answers
    days: int  # local days in the part
    moves_to_private: int
    redirects: int
    computed_for: datetime
    valid_until: datetime | None

    def holds_at(self, now: datetime) -> bool:
        return self.computed_for <= now and (self.valid_until is None or now < self.valid_until)


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
    deadlines passes (``Part.valid_until``), since that changes its overdue count.

    Thread-safe: the web app computes in a thread pool. A month is not kept when a change to
    it was seen after its computation started (it may predate that change).
    """

    MARGIN = 600.0  # seconds

    def __init__(self, max_parts: int = 48) -> None:
        self.max_parts = max_parts
        self.hits = 0
        self.misses = 0
        self._parts: OrderedDict[Filters, Part] = OrderedDict()
        self._lock = threading.Lock()
        self._mark: float | None = None  # the database clock at the last look
        self._seen: dict[int, float] = {}  # incident -> stamp, for stamps inside the margin
        self._generation = 0  # bumped for each change seen
        self._changes: deque[tuple[int, datetime]] = deque(maxlen=10_000)  # (generation, opened)

    def refresh(self, conn: Connection) -> int:
        """Drop the months with changes since the last look; returns the generation to ``put``
        the months computed from now on with."""
        clock = float(conn.execute(select(_database_clock(conn))).scalar_one())
        with self._lock:
            since = (self._mark if self._mark is not None else clock) - self.MARGIN
        changed = conn.execute(
            select(_I.id, _I.changed_at, _I.opened_at).where(_I.changed_at >= since)
        ).all()
        with self._lock:
            for incident_id, stamp, opened_at in changed:
                if self._seen.get(incident_id) == stamp:
                    continue
                self._seen[incident_id] = stamp
                self._generation += 1
                self._changes.append((self._generation, opened_at))
                for key in [k for k in self._parts if k.start <= opened_at < k.end]:
                    del self._parts[key]
            horizon = clock - self.MARGIN
            self._seen = {i: s for i, s in self._seen.items() if s >= horizon}
            self._mark = clock if self._mark is None else max(self._mark, clock)
            return self._generation

    def get(self, piece: Filters, now: datetime) -> Part | None:
        with self._lock:
            part = self._parts.get(piece)
            if part is None or not part.holds_at(now):
                self.misses += 1
                return None
            self._parts.move_to_end(piece)
            self.hits += 1
            return part

    def put(self, piece: Filters, part: Part, generation: int) -> None:
        with self._lock:
            if self._changes and self._changes[0][0] > generation + 1:
                return  # the changes since are no longer all known
            if any(g > generation and piece.start <= o < piece.end for g, o in self._changes):
                return  # changed while it was computed
            self._parts[piece] = part
            self._parts.move_to_end(piece)
            while len(self._parts) > self.max_parts:
                self._parts.popitem(last=False)

    def __len__(self) -> int:
        return len(self._parts)


def _database_clock(conn: Connection) -> ColumnElement[Any]:
    """Now on the database's clock, in epoch seconds: the clock the triggers stamp with."""
    if conn.dialect.name == "sqlite":
        return literal_column("((julianday('now') - 2440587.5) * 86400.0)")
    return func.extract("epoch", func.now())


def months(filters: Filters) -> list[Filters]:
    """The period cut at local month starts: the pieces the cache keeps apart."""
    tz = filters.tz
    pieces: list[Filters] = []
    start = filters.start
    while start < filters.end:
        local = start.astimezone(tz)
        following = date(local.year + local.month // 12, local.month % 12 + 1, 1)
        end = min(filters.end, datetime.combine(following, time(0), tzinfo=tz))
        pieces.append(replace(filters, start=start, end=end))
        start = end
    return pieces


def _fetch_rows(conn: Connection, stmt: Select[Any]) -> list[tuple[Any, ...]]:
    """Plain tuples from the driver: building 100,000 Row objects would cost more than the
    query. SQLite gets the statement with its values inlined (the dialect escapes them)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    rows: list[tuple[Any, ...]]
    try:
        if conn.dialect.name == "sqlite":
            sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            rows = cursor.execute(sql).fetchall()
        else:
            compiled = stmt.compile(
                dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
            )
            rows = cursor.execute(str(compiled), compiled.params).fetchall()
    finally:
        cursor.close()
    return rows


_Daily = dict[int, tuple[int, float | None, float | None]]


def _answer_times(
    conn: Connection, piece: Filters, days: CTE
) -> tuple[_Daily, array[int], array[int]]:
    """Per day of the piece (answered, median working hours, median calendar hours), and the
    piece's working and calendar seconds of human answers, each sorted."""
    rws, rs = _I.response_working_seconds, _I.response_seconds
    where = [*_joined_scope(conn, piece), _human_answer(), rws.is_not(None), rs.is_not(None)]
    joined = days.join(db.incidents, _in_day(days))
    if conn.dialect.name == "postgresql":
        # The daily medians in SQL; the sorted values come back one column at a time.
        daily = {
            int(r[0]): (int(r[1]), _hours(r[2]), _hours(r[3]))
            for r in conn.execute(
                select(
                    days.c.i,
                    func.count(),
                    func.percentile_cont(0.5).within_group(rws.asc()),
                    func.percentile_cont(0.5).within_group(rs.asc()),
                )
                .select_from(joined)
                .where(*where)
                .group_by(days.c.i)
            )
        }
        working, calendar = (
            array(
                "q",
                [
                    r[0]
                    for r in _fetch_rows(
                        conn, select(col).select_from(joined).where(*where).order_by(col)
                    )
                ],
            )
            for col in (rws, rs)
        )
        return daily, working, calendar
    # SQLite has no percentiles: read the stored numbers once (a covering index scan) and
    # sort them here; faster than one ORDER BY ... OFFSET query per figure or window
    # functions per day (measured with bench/stats.py).
    answers = _fetch_rows(conn, select(days.c.i, rws, rs).select_from(joined).where(*where))
    by_day: dict[int, tuple[list[int], list[int]]] = {}
    for i, w, c in answers:
        pair = by_day.get(i)
        if pair is None:
            pair = by_day[i] = ([], [])
        pair[0].append(w)
        pair[1].append(c)
    daily = {
        int(i): (len(w), _hours(statistics.median(w)), _hours(statistics.median(c)))
        for i, (w, c) in by_day.items()
    }
    return (
        daily,
        array("q", sorted(r[1] for r in answers)),
        array("q", sorted(r[2] for r in answers)),
    )


def compute_part(conn: Connection, piece: Filters, now: datetime) -> Part:
    """The figures of one piece of the period (see ``months``), computed from the database."""
    days = _day_bounds(conn, piece)
    human = _human_answer()
    pending = and_(~human, _I.status != "closed", _I.due_at.is_not(None))
    overdue = and_(pending, _I.due_at < now)  # no human answer, not closed, past due
    ints = [
        func.count(),
        func.sum(case((human, 1), else_=0)),
        func.sum(case((and_(human, _I.on_time.is_(True)), 1), else_=0)),
        func.sum(case((and_(human, _I.on_time.is_(False)), 1), else_=0)),
        func.sum(case((and_(~human, _I.status == "closed"), 1), else_=0)),
        func.sum(case((overdue, 1), else_=0)),
    ]
    t = func.coalesce(_I.topic, UNCLASSIFIED).label("t")
    next_due = func.min(case((and_(pending, _I.due_at >= now), _I.due_at)))
    grouped = conn.execute(
        select(
            days.c.i,
            t,
            next_due,
            func.sum(_I.moves_to_private),
            func.sum(_I.redirects),
            *ints,
        )
        .select_from(days.join(db.incidents, _in_day(days)))
        .where(*_joined_scope(conn, piece))
        .group_by(days.c.i, t)
    ).all()
    n_days = len(piece.local_days())
    volume: dict[str, list[int]] = defaultdict(lambda: [0] * n_days)
    per_topic: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
    valid_until: datetime | None = None
    moves = redirects = 0
    for r in grouped:
        volume[r[1]][int(r[0])] += int(r[5])
        sums = per_topic[r[1]]
        for k in range(6):
            sums[k] += int(r[5 + k] or 0)
        if r[2] is not None and (valid_until is None or r[2] < valid_until):
            valid_until = r[2]
        moves += int(r[3] or 0)
        redirects += int(r[4] or 0)
    daily, working, calendar = _answer_times(conn, piece, days)
    return Part(
        start=piece.start,
        end=piece.end,
        per_topic={k: tuple(v) for k, v in per_topic.items()},
        volume={k: tuple(v) for k, v in volume.items()},
        daily=daily,
        days=n_days,
        working=working,
        calendar=calendar,
        moves_to_private=moves,
        redirects=redirects,
        computed_for=now,
        valid_until=valid_until,
    )


def _joined_scope(conn: Connection, filters: Filters) -> list[ColumnElement[bool]]:
    """The filters for a query joined with the days table. PostgreSQL needs the period
    repeated, or with a community filter it reads all of the community's rows and matches
    them to the days afterwards; SQLite's planner does the opposite with it (it scans the
    whole period once per day: 30 times slower for a year), so it gets the days alone."""
    return scope(filters, period=conn.dialect.name == "postgresql")


def _in_day(days: CTE) -> ColumnElement[bool]:
    return and_(_I.opened_at >= days.c.lo, _I.opened_at < days.c.hi)


def compute(
    conn: Connection, filters: Filters, now: datetime, cache: StatsCache | None = None
) -> Stats:
    """Every figure of the statistics page for ``filters`` as of ``now``.

    The period's months are computed apart and merged; with a ``cache`` (the web app's), the
    months that did not change since they were computed are not read again."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    if conn.dialect.name == "postgresql":
        # For this transaction only: sort in memory rather than on disk, and skip JIT
        # compilation, which costs ~170 ms a query here and never pays back for them.
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")
    generation = cache.refresh(conn) if cache is not None else 0
    parts: list[Part] = []
    for piece in months(filters):
        part = cache.get(piece, now) if cache is not None else None
        if part is None:
            part = compute_part(conn, piece, now)
            if cache is not None:
                cache.put(piece, part, generation)
        parts.append(part)

    day_list = filters.local_days()
    volume: dict[str, list[int]] = defaultdict(lambda: [0] * len(day_list))
    per_topic: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
    daily: dict[int, tuple[int, float | None, float | None]] = {}
    offset = 0
    for part in parts:
        for topic, counts in part.volume.items():
            row = volume[topic]
            for i, n in enumerate(counts):
                row[offset + i] += n
        for topic, sums in part.per_topic.items():
            total = per_topic[topic]
            for k in range(6):
                total[k] += sums[k]
        for i, figures in part.daily.items():
            daily[offset + i] = figures
        offset += part.days
    totals = [sum(v[k] for v in per_topic.values()) for k in range(6)]
    comments, answered, on_time, late, closed, overdue_unanswered = totals
    working = [p.working for p in parts]
    calendar = [p.calendar for p in parts]

    queue = conn.execute(
        select(
            func.count(),
            func.sum(case((and_(_I.due_at.is_not(None), _I.due_at < now), 1), else_=0)),
        ).where(*scope(filters, period=False), _I.status == "open")
    ).one()

    slow_rows = conn.execute(
        select(
            _I.id,
            _I.community,
            _I.platform,
            _I.topic,
            _I.opened_at,
            _I.first_response_at,
            _I.first_response_by,
            _I.response_working_seconds,
            _I.response_seconds,
        )
        .where(*scope(filters), _human_answer(), _I.response_working_seconds.is_not(None))
        .order_by(_I.response_working_seconds.desc(), _I.id)
        .limit(SLOWEST_LIMIT)
    ).all()

    topic_order = sorted(per_topic, key=lambda k: (-per_topic[k][0], k))
    return Stats(
        filters=filters,
        now=now,
        comments=comments,
        answered=answered,
        closed_without_answer=closed,
        on_time=on_time,
        late=late,
        overdue_unanswered=overdue_unanswered,
        median_working_hours=_hours(_percentile(working, 0.5)),
        p90_working_hours=_hours(_percentile(working, 0.9)),
        median_hours=_hours(_percentile(calendar, 0.5)),
        p90_hours=_hours(_percentile(calendar, 0.9)),
        open_now=int(queue[0]),
        overdue_now=int(queue[1] or 0),
        moves_to_private=sum(p.moves_to_private for p in parts),
        redirects=sum(p.redirects for p in parts),
        days=day_list,
        daily_volume=tuple((k, tuple(volume[k])) for k in topic_order),
        daily_response=tuple(
            DailyResponse(d_, *daily.get(i, (0, None, None))) for i, d_ in enumerate(day_list)
        ),
        by_topic=tuple(
            TopicRow(
                topic=k,
                comments=per_topic[k][0],
                answered=per_topic[k][1],
                on_time=per_topic[k][2],
                overdue=per_topic[k][5],
            )
            for k in topic_order
        ),
        slowest=tuple(
            SlowIncident(
                id=r.id,
                community=r.community,
                platform=r.platform,
                topic=r.topic or UNCLASSIFIED,
                opened_at=r.opened_at,
                first_response_at=r.first_response_at,
                first_response_by=r.first_response_by,
                working_hours=float(r.response_working_seconds) / 3600,
                hours=float(r.response_seconds or 0) / 3600,
            )
            for r in slow_rows
        ),
    )


def volume_table(
    stats: Stats, by: str = "month"
) -> tuple[tuple[str, ...], list[tuple[str, tuple[int, ...]]]]:
    """Volume by topic over time as a table: (topics, [(period label, counts per topic)]).

    ``by``: "day" (YYYY-MM-DD), "week" (the Monday, YYYY-MM-DD) or "month" (YYYY-MM).
    """
    if by not in ("day", "week", "month"):
        raise ValueError(f"by must be day, week or month, got {by!r}")

    def key(d_: date) -> str:
        if by == "month":
            return f"{d_:%Y-%m}"
        if by == "week":
            return (d_ - timedelta(days=d_.weekday())).isoformat()
        return d_.isoformat()

    topics = tuple(t for t, _ in stats.daily_volume)
    table: dict[str, list[int]] = {}
    for i, d_ in enumerate(stats.days):
        row = table.setdefault(key(d_), [0] * len(topics))
        for j, (_, counts) in enumerate(stats.daily_volume):
            row[j] += counts[i]
    return topics, [(k, tuple(v)) for k, v in table.items()]


# ----- SVG charts (plain SVG, no script, Russian labels) ----------------------------------

_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
)
_W, _H = 720, 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 200, 28, 36
_LEGEND_CHARS = 28  # ~6 px a character at font-size 11: fits the right margin


def _label(topic: str, labels: Mapping[str, str] | None) -> str:
    return (labels or TOPIC_LABELS).get(topic) or TOPIC_LABELS.get(topic) or topic


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude


def _nice_count_max(value: float) -> int:
    """A top for a count axis whose four grid steps are whole numbers (no "3,8 comments")."""
    step_needed = max(1.0, value / 4)
    magnitude = 10 ** math.floor(math.log10(step_needed))
    for factor in (1, 2, 2.5, 3, 4, 5, 6, 8, 10):
        step = factor * magnitude
        if step >= step_needed and float(step).is_integer():
            return int(4 * step)
    return int(40 * magnitude)


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".").replace(".", ",")


def _frame(title: str, days: Sequence[date], top: float, unit: str) -> list[str]:
    e = html.escape
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" '
        f'height="{_H}" role="img" aria-label="{e(title)}" font-family="sans-serif" '
        'font-size="11">',
        f"<title>{e(title)}</title>",
        f'<text x="{_LEFT}" y="16" font-size="13" font-weight="bold">{e(title)}</text>',
    ]
    for k in range(5):
        value = top * k / 4
        y = _TOP + plot_h - plot_h * k / 4
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot_w}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{e(_fmt(value))}</text>'
        )
    parts.append(f'<text x="4" y="{_TOP - 8}" fill="#555">{e(unit)}</text>')
    if days:
        ticks = sorted({0, len(days) - 1, *range(0, len(days), max(1, len(days) // 6))})
        for i in ticks:
            x = _LEFT + plot_w * (i + 0.5) / len(days)
            parts.append(
                f'<text x="{x:.1f}" y="{_H - _BOTTOM + 14}" text-anchor="middle">'
                f"{days[i]:%d.%m}</text>"
            )
    return parts


def _legend(entries: Sequence[tuple[str, str]]) -> list[str]:
    parts = []
    for i, (name, colour) in enumerate(entries):
        y = _TOP + 14 * i
        x = _W - _RIGHT + 12
        parts.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{colour}"/>')
        shown = name if len(name) <= _LEGEND_CHARS else name[: _LEGEND_CHARS - 1] + "…"
        parts.append(
            f'<text x="{x + 14}" y="{y + 9}"><title>{html.escape(name)}</title>'
            f"{html.escape(shown)}</text>"
        )
    return parts


def svg_daily_volume(stats: Stats, labels: Mapping[str, str] | None = None) -> str:
    """Stacked bars: comments per local day, one colour per topic."""
    days = stats.days
    totals = [sum(c[i] for _, c in stats.daily_volume) for i in range(len(days))]
    top = _nice_count_max(max(totals, default=0))
    parts = _frame("Обращения по дням и темам", days, top, "шт.")
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    width = plot_w / max(1, len(days))
    base = [0] * len(days)
    entries = []
    for n, (topic, counts) in enumerate(stats.daily_volume):
        colour = _PALETTE[n % len(_PALETTE)]
        entries.append((_label(topic, labels), colour))
        for i, count in enumerate(counts):
            if not count:
                continue
            y0 = _TOP + plot_h - plot_h * base[i] / top
            h = plot_h * count / top
            x = _LEFT + width * i
            parts.append(
                f'<rect x="{x + width * 0.1:.1f}" y="{y0 - h:.1f}" width="{width * 0.8:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>'
                f"{days[i]:%d.%m.%Y} {html.escape(_label(topic, labels))}: {count}"
                "</title></rect>"
            )
            base[i] += count
    if not stats.daily_volume:
        parts.append(f'<text x="{_LEFT + 10}" y="{_TOP + 20}">Нет обращений за период</text>')
    parts += _legend(entries)
    parts.append("</svg>")
    return "\n".join(parts)


def svg_response_time(stats: Stats) -> str:
    """Lines: the daily median first-answer time, in working and in calendar hours."""
    days = stats.days
    series = (
        (
            "Медиана, рабочие часы",
            "#1f77b4",
            [r.median_working_hours for r in stats.daily_response],
        ),
        ("Медиана, календарные часы", "#ff7f0e", [r.median_hours for r in stats.daily_response]),
    )
    values = [v for _, _, s in series for v in s if v is not None]
    top = _nice_max(max(values, default=0.0))
    parts = _frame("Время первого ответа по дням", days, top, "ч")
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    for name, colour, points in series:
        coords = []
        for i, v in enumerate(points):
            if v is None:
                continue
            x = _LEFT + plot_w * (i + 0.5) / max(1, len(days))
            y = _TOP + plot_h - plot_h * v / top
            coords.append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{colour}"><title>'
                f"{days[i]:%d.%m.%Y} {html.escape(name)}: {_fmt(v)} ч</title></circle>"
            )
        if len(coords) > 1:
            parts.append(
                f'<polyline points="{" ".join(coords)}" fill="none" stroke="{colour}" '
                'stroke-width="1.5"/>'
            )
    if not values:
        parts.append(f'<text x="{_LEFT + 10}" y="{_TOP + 20}">Нет ответов за период</text>')
    parts += _legend([(name, colour) for name, colour, _ in series])
    parts.append("</svg>")
    return "\n".join(parts)
