"""Response-time statistics for supervisors: figures, daily series, server-side SVG charts.

Answer times are stored when an incident gets its first answer (``response_figures``, called by
the inbox; ``backfill_response_figures`` for older rows), so no working-hours arithmetic runs
at query time: counts are SQL aggregates, percentiles are PostgreSQL's ``percentile_cont``;
SQLite, which has no percentiles, hands the period's stored answer times over in one covering
index scan and they are sorted here (measured faster than ``ORDER BY ... LIMIT 2 OFFSET k`` per
figure or window functions per day; see docs/stats.md). Both give ``percentile_cont``'s linear
interpolation.

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
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CTE,
    Boolean,
    ColumnElement,
    Connection,
    Integer,
    and_,
    bindparam,
    case,
    column,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)

from incident import db
from incident.calendar import working_time_between
from incident.sla import SlaSettings

AUTOMATIC_ACTORS: tuple[str, ...] = ("worker",)
UNCLASSIFIED = "unclassified"
MOVE_TO_PRIVATE = "move-to-private"
REDIRECT = "redirect"
SLOWEST_LIMIT = 10

# Short Russian chart labels for the committee's hotline topics; callers may pass their own
# (e.g. the titles from rules/).
TOPIC_LABELS: Mapping[str, str] = {
    "trade": "Торговля",
    "services": "Бытовые услуги",
    "food": "Общепит",
    "telecom": "Связь",
    "finance": "Финансы",
    "transport": "Транспорт",
    "housing": "ЖКХ",
    "medical": "Медицина",
    "other": "Вне компетенции",
    "spam": "Спам",
    UNCLASSIFIED: "Без темы",
}

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


_Figures = tuple[dict[str, float | None], dict[int, tuple[int, float | None, float | None]]]


def _answer_times(
    conn: Connection, filters: Filters, days: CTE, human: ColumnElement[bool]
) -> _Figures:
    """Median and p90 in hours over the period ({"median_working": ..., "p90_calendar": ...})
    and per day {day index: (answered, median working hours, median calendar hours)}."""
    rws, rs = _I.response_working_seconds, _I.response_seconds
    answered = [*_joined_scope(conn, filters), human, rws.is_not(None), rs.is_not(None)]
    overall: dict[str, float | None] = {}
    daily: dict[int, tuple[int, float | None, float | None]] = {}
    if conn.dialect.name == "postgresql":
        # One scan, two grouping sets: each day, and the whole period (i IS NULL there).
        rows = conn.execute(
            select(
                days.c.i,
                func.count(),
                *[
                    func.percentile_cont(p).within_group(col.asc())
                    for col in (rws, rs)
                    for p in (0.5, 0.9)
                ],
            )
            .select_from(days.join(db.incidents, _in_day(days)))
            .where(*answered)
            .group_by(func.grouping_sets(days.c.i, tuple_()))
        )
        keys = ("median_working", "p90_working", "median_calendar", "p90_calendar")
        overall = dict.fromkeys(keys)
        for r in rows:
            if r[0] is None:
                overall = {key: _hours(r[2 + k]) for k, key in enumerate(keys)}
            else:
                daily[int(r[0])] = (int(r[1]), _hours(r[2]), _hours(r[4]))
        return overall, daily
    # SQLite has no percentiles: read the stored numbers once (a covering index scan) and
    # sort them here; faster than one ORDER BY ... OFFSET query per figure or window
    # functions per day (see bench/stats.py and docs/stats.md).
    stmt = (
        select(days.c.i, rws, rs)
        .select_from(days.join(db.incidents, _in_day(days)))
        .where(*answered)
    )
    # Plain tuples from the driver: building 100,000 Row objects would cost more than the
    # query. The bound values are the filters' strings, escaped by the dialect's literals.
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        answers: list[tuple[int, int, int]] = cursor.execute(sql).fetchall()
    finally:
        cursor.close()
    working = sorted([r[1] for r in answers])
    calendar = sorted([r[2] for r in answers])
    for key, ordered in (("working", working), ("calendar", calendar)):
        overall[f"median_{key}"] = _hours(_percentile_cont(ordered, 0.5))
        overall[f"p90_{key}"] = _hours(_percentile_cont(ordered, 0.9))
    by_day: dict[int, tuple[list[int], list[int]]] = {}
    for i, w, c in answers:
        pair = by_day.get(i)
        if pair is None:
            pair = by_day[i] = ([], [])
        pair[0].append(w)
        pair[1].append(c)
    for i, (w_list, c_list) in by_day.items():
        daily[int(i)] = (
            len(w_list),
            _hours(statistics.median(w_list)),
            _hours(statistics.median(c_list)),
        )
    return overall, daily


def _joined_scope(conn: Connection, filters: Filters) -> list[ColumnElement[bool]]:
    """The filters for a query joined with the days table. PostgreSQL needs the period
    repeated, or with a community filter it reads all of the community's rows and matches
    them to the days afterwards; SQLite's planner does the opposite with it (it scans the
    whole period once per day: 30 times slower for a year), so it gets the days alone."""
    return scope(filters, period=conn.dialect.name == "postgresql")


def _in_day(days: CTE) -> ColumnElement[bool]:
    return and_(_I.opened_at >= days.c.lo, _I.opened_at < days.c.hi)


def compute(conn: Connection, filters: Filters, now: datetime) -> Stats:
    """Every figure of the statistics page for ``filters`` as of ``now``."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    if conn.dialect.name == "postgresql":
        # For this transaction only: sort in memory rather than on disk, and skip JIT
        # compilation, which costs ~170 ms a query here and never pays back for them.
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")
    days = _day_bounds(conn, filters)
    human = _human_answer()
    overdue = and_(
        ~human, _I.status != "closed", _I.due_at.is_not(None), _I.due_at < now
    )  # no human answer, not closed as needing none, past due
    ints = [
        func.count(),
        func.sum(case((human, 1), else_=0)),
        func.sum(case((and_(human, _I.on_time.is_(True)), 1), else_=0)),
        func.sum(case((and_(human, _I.on_time.is_(False)), 1), else_=0)),
        func.sum(case((and_(~human, _I.status == "closed"), 1), else_=0)),
        func.sum(case((overdue, 1), else_=0)),
    ]
    t = func.coalesce(_I.topic, UNCLASSIFIED).label("t")
    grouped = conn.execute(
        select(days.c.i, t, *ints)
        .select_from(days.join(db.incidents, _in_day(days)))
        .where(*_joined_scope(conn, filters))
        .group_by(days.c.i, t)
    ).all()

    day_list = filters.local_days()
    volume: dict[str, list[int]] = defaultdict(lambda: [0] * len(day_list))
    per_topic: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
    for r in grouped:
        volume[r[1]][int(r[0])] += int(r[2])
        sums = per_topic[r[1]]
        for k in range(6):
            sums[k] += int(r[2 + k] or 0)
    totals = [sum(v[k] for v in per_topic.values()) for k in range(6)]
    comments, answered, on_time, late, closed, overdue_unanswered = totals

    pct, medians = _answer_times(conn, filters, days, human)
    conds = scope(filters)

    queue = conn.execute(
        select(
            func.count(),
            func.sum(case((and_(_I.due_at.is_not(None), _I.due_at < now), 1), else_=0)),
        ).where(*scope(filters, period=False), _I.status == "open")
    ).one()

    ob = db.outbox.c
    kinds: dict[str, int] = dict(
        conn.execute(
            select(ob.kind, func.count())
            .select_from(db.outbox.join(db.incidents, _I.id == ob.incident_id))
            .where(
                *conds,
                ob.kind.in_((MOVE_TO_PRIVATE, REDIRECT)),
                ob.status == "posted",
                ob.created_by.not_in(AUTOMATIC_ACTORS),
            )
            .group_by(ob.kind)
        ).all()
    )

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
        .where(*conds, human, _I.response_working_seconds.is_not(None))
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
        median_working_hours=pct["median_working"],
        p90_working_hours=pct["p90_working"],
        median_hours=pct["median_calendar"],
        p90_hours=pct["p90_calendar"],
        open_now=int(queue[0]),
        overdue_now=int(queue[1] or 0),
        moves_to_private=int(kinds.get(MOVE_TO_PRIVATE, 0)),
        redirects=int(kinds.get(REDIRECT, 0)),
        days=day_list,
        daily_volume=tuple((k, tuple(volume[k])) for k in topic_order),
        daily_response=tuple(
            DailyResponse(d_, *medians.get(i, (0, None, None))) for i, d_ in enumerate(day_list)
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
