"""The statistics' SQL: a month's figures from the database, merged into a period's ``Stats``."""

from __future__ import annotations

import statistics
from array import array
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Connection,
    Integer,
    Select,
    and_,
    case,
    column,
    func,
    select,
    text,
)

from incident import db
from incident.models import UNCLASSIFIED
from incident.stats.cache import StatsCache
from incident.stats.filters import Filters, human_answer, months, scope
from incident.stats.model import DailyResponse, MonthFigures, SlowIncident, Stats, TopicRow
from incident.stats.percentiles import percentile_cont

SLOWEST_LIMIT = 10

incident = db.incidents.c  # the incidents table's columns, as in SQL's "incidents AS incident"


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
    parts: list[MonthFigures] = []
    for piece in months(filters):
        part = cache.get(piece, now) if cache is not None else None
        if part is None:
            part = compute_month(conn, piece, now)
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
            func.sum(case((and_(incident.due_at.is_not(None), incident.due_at < now), 1), else_=0)),
        ).where(*scope(filters, period=False), incident.status == "open")
    ).one()

    slow_rows = conn.execute(
        select(
            incident.id,
            incident.community,
            incident.platform,
            incident.topic,
            incident.opened_at,
            incident.first_response_at,
            incident.first_response_by,
            incident.response_working_seconds,
            incident.response_seconds,
        )
        .where(*scope(filters), human_answer(), incident.response_working_seconds.is_not(None))
        .order_by(incident.response_working_seconds.desc(), incident.id)
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
        median_working_hours=_hours(percentile_cont(working, 0.5)),
        p90_working_hours=_hours(percentile_cont(working, 0.9)),
        median_hours=_hours(percentile_cont(calendar, 0.5)),
        p90_hours=_hours(percentile_cont(calendar, 0.9)),
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


def compute_month(conn: Connection, piece: Filters, now: datetime) -> MonthFigures:
    """The figures of one piece of the period (see ``months``), computed from the database."""
    days = _day_bounds(conn, piece)
    human = human_answer()
    pending = and_(~human, incident.status != "closed", incident.due_at.is_not(None))
    overdue = and_(pending, incident.due_at < now)  # no human answer, not closed, past due
    ints = [
        func.count(),
        func.sum(case((human, 1), else_=0)),
        func.sum(case((and_(human, incident.on_time.is_(True)), 1), else_=0)),
        func.sum(case((and_(human, incident.on_time.is_(False)), 1), else_=0)),
        func.sum(case((and_(~human, incident.status == "closed"), 1), else_=0)),
        func.sum(case((overdue, 1), else_=0)),
    ]
    t = func.coalesce(incident.topic, UNCLASSIFIED).label("t")
    next_due = func.min(case((and_(pending, incident.due_at >= now), incident.due_at)))
    grouped = conn.execute(
        select(
            days.c.i,
            t,
            next_due,
            func.sum(incident.moves_to_private),
            func.sum(incident.redirects),
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
    return MonthFigures(
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


_Daily = dict[int, tuple[int, float | None, float | None]]


def _answer_times(
    conn: Connection, piece: Filters, days: CTE
) -> tuple[_Daily, array[int], array[int]]:
    """Per day of the piece (answered, median working hours, median calendar hours), and the
    piece's working and calendar seconds of human answers, each sorted."""
    rws, rs = incident.response_working_seconds, incident.response_seconds
    where = [*_joined_scope(conn, piece), human_answer(), rws.is_not(None), rs.is_not(None)]
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
                    for r in _fetch_plain_tuples(
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
    answers = _fetch_plain_tuples(conn, select(days.c.i, rws, rs).select_from(joined).where(*where))
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


def _in_day(days: CTE) -> ColumnElement[bool]:
    return and_(incident.opened_at >= days.c.lo, incident.opened_at < days.c.hi)


def _joined_scope(conn: Connection, filters: Filters) -> list[ColumnElement[bool]]:
    """The filters for a query joined with the days table. PostgreSQL needs the period
    repeated, or with a community filter it reads all of the community's rows and matches
    them to the days afterwards; SQLite's planner does the opposite with it (it scans the
    whole period once per day: 30 times slower for a year), so it gets the days alone."""
    return scope(filters, period=conn.dialect.name == "postgresql")


def _fetch_plain_tuples(conn: Connection, stmt: Select[Any]) -> list[tuple[Any, ...]]:
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


def _hours(seconds: Any) -> float | None:
    return None if seconds is None else float(seconds) / 3600
