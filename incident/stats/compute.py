"""The statistics' SQL: a month's figures from the database, merged into a period's ``Stats``."""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain
from typing import Any, cast

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    case,
    column,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from incident import db
from incident.models import AUTOMATIC_ACTORS, NOT_PEOPLE, UNCLASSIFIED, ReplyKind
from incident.stats.cache import StatsCache
from incident.stats.filters import Filters, human_answer, months, scope
from incident.stats.merge import merge_days, replace_days
from incident.stats.model import (
    SLOWEST_LIMIT,
    Counts,
    DailyResponse,
    DayAnswers,
    MonthFigures,
    PersonMonth,
    PersonRow,
    PlatformRow,
    SlowIncident,
    Stats,
    TopicCheckRow,
    TopicRow,
    slowest_first,
)
from incident.stats.percentiles import percentile_cont

incident = db.incidents.c  # the incidents table's columns, as in SQL's "incidents AS incident"


def compute(
    conn: Connection,
    filters: Filters,
    now: datetime,
    cache: StatsCache | None = None,
    *,
    people: bool = False,
) -> Stats:
    """Every figure of the statistics page and ``/api/stats`` for ``filters`` as of ``now``
    (aware; ValueError otherwise). Reads only; the same figures with or without a ``cache``.

    What the figures mean (the README's "What the figures mean" table):

    * The period selects incidents by ``opened_at`` (the raw clock start), half-open
      ``[start, end)``; days are local days in the filters' time zone.
    * ``comments``: incidents (citizens' comments that opened one) opened in the period.
    * Only human answers count: an incident is *answered* when it has a first answer by a
      person, sent from here (``first_response_by`` = the staff user) or typed in the
      platform's own interface (``"platform"``). Answers by an automatic actor
      (``AUTOMATIC_ACTORS``) count as unanswered, and automatic replies are not counted as
      moves or redirects.
    * *On time* / *late*: answered with ``first_response_at <= due_at`` / after it. The on-time
      share is on time over the incidents whose fate is known: answered, plus past due without
      a human answer and not closed (``overdue_unanswered``). Open incidents not yet due are
      counted neither way.
    * *Answered share*: answered over the incidents that needed an answer (those closed as
      "no answer needed" without an answer are left out).
    * Median and p90 of the first-answer time, in working and calendar hours: PostgreSQL's
      ``percentile_cont`` (linear interpolation), the same numbers on SQLite.
    * *Open now* / *overdue now* describe the queue at ``now`` and ignore the period (the other
      filters apply): an old incident still open matters whatever period is on screen.
    * Moves to private and redirects: posted human replies of those kinds to the period's
      incidents. The daily volume by topic and the daily median answer times are per local
      day; ``slowest``: the ``SLOWEST_LIMIT`` longest answers in working hours.
    * The person filter matches incidents that person answered or is assigned to.
    * ``people=True`` adds the per-person table: for each actor who gave the first answer to
      one of the period's incidents, moved one to private messages or redirected it (posted
      replies), corrected its topic, or holds open incidents assigned now: the answers, how
      many by the deadline, their median and p90 in working and calendar hours, the moves,
      redirects and corrections, and the open incidents assigned now (the period ignored).
      Members of staff are ``Stats.people``; the actors that are not one person
      (``models.NOT_PEOPLE``: the worker, the demo operator, answers typed in the platform)
      are ``Stats.automatic``, never mixed in; ``Stats.people_total`` is the staff together.
      With a person filter, only that actor's line.

    The period's months (``months``) are computed apart and merged exactly; with a ``cache``
    (the web app's), the months that did not change since they were computed are not read
    again."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    if conn.dialect.name == "postgresql":
        # For this transaction only: sort in memory rather than on disk, and skip JIT
        # compilation, which costs ~170 ms a query here and never pays back for them.
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")
    generation = cache.refresh(conn) if cache is not None else 0
    figures: list[MonthFigures] = []
    for piece in months(filters):
        kept, stale = cache.lookup(piece, now) if cache is not None else (None, frozenset())
        if kept is None or (people and kept.people is None):
            month = compute_month(conn, piece, now, people=people)
        elif stale:  # read again only the days that changed
            fresh = compute_days(conn, piece, now, people=kept.people is not None, only=stale)
            month = replace_days(kept, fresh, stale, now)
        else:
            month = kept
        if cache is not None and month is not kept:
            cache.put(piece, month, generation)
        figures.append(month)

    day_list = filters.local_days()
    volume: dict[str, list[int]] = defaultdict(lambda: [0] * len(day_list))
    per_topic: dict[str, Counts] = defaultdict(Counts)
    daily: dict[int, DayAnswers] = {}
    offset = 0  # the period's index of the month's first day
    for month in figures:
        for topic, counts in month.volume.items():
            row = volume[topic]
            for i, n in enumerate(counts):
                row[offset + i] += n
        for topic, topic_counts in month.per_topic.items():
            per_topic[topic] = per_topic[topic].plus(topic_counts)
        for i, answers in month.daily.items():
            daily[offset + i] = answers
        offset += month.days
    totals = Counts.total(per_topic.values())
    working = [m.working for m in figures]
    calendar = [m.calendar for m in figures]

    queue = conn.execute(
        select(
            func.count().label("open_now"),
            func.sum(
                case((and_(incident.due_at.is_not(None), incident.due_at < now), 1), else_=0)
            ).label("overdue_now"),
        ).where(*scope(filters, period=False), incident.status == "open")
    ).one()

    checks = _topic_checks(figures)
    staff: tuple[PersonRow, ...] = ()
    apart: tuple[PersonRow, ...] = ()
    staff_total: PersonRow | None = None
    if people:
        staff, apart, staff_total = _person_rows(conn, filters, figures, cache)

    no_answers = DayAnswers(answered=0, median_working_hours=None, median_hours=None)
    topic_order = sorted(per_topic, key=lambda k: (-per_topic[k].comments, k))
    return Stats(
        filters=filters,
        now=now,
        comments=totals.comments,
        answered=totals.answered,
        closed_without_answer=totals.closed_without_answer,
        on_time=totals.on_time,
        late=totals.late,
        overdue_unanswered=totals.overdue,
        median_working_hours=_hours(percentile_cont(working, 0.5)),
        p90_working_hours=_hours(percentile_cont(working, 0.9)),
        median_hours=_hours(percentile_cont(calendar, 0.5)),
        p90_hours=_hours(percentile_cont(calendar, 0.9)),
        open_now=int(queue.open_now),
        overdue_now=int(queue.overdue_now or 0),
        moves_to_private=sum(m.moves_to_private for m in figures),
        redirects=sum(m.redirects for m in figures),
        days=day_list,
        daily_volume=tuple((k, tuple(volume[k])) for k in topic_order),
        daily_response=tuple(
            _daily_response(day, daily.get(i, no_answers)) for i, day in enumerate(day_list)
        ),
        by_topic=tuple(
            TopicRow(
                topic=k,
                comments=per_topic[k].comments,
                answered=per_topic[k].answered,
                on_time=per_topic[k].on_time,
                overdue=per_topic[k].overdue,
            )
            for k in topic_order
        ),
        topic_checks=checks,
        confirmed=sum(c.confirmed for c in checks),
        corrected=sum(c.corrected_from for c in checks),
        slowest=tuple(
            heapq.nsmallest(
                SLOWEST_LIMIT, chain.from_iterable(m.slowest for m in figures), slowest_first
            )
        ),
        people=staff,
        automatic=apart,
        people_total=staff_total,
    )


def _topic_checks(figures: Sequence[MonthFigures]) -> tuple[TopicCheckRow, ...]:
    """Confirmations and corrections of the topics of the incidents the months' filters
    select (the period by ``opened_at``, as every figure; with a topic filter, the incidents
    now in that topic), per topic: the staff's measure of how often the classifier is right."""
    confirmed: dict[str, int] = defaultdict(int)
    wrong: dict[str, int] = defaultdict(int)
    chosen: dict[str, int] = defaultdict(int)
    for month in figures:
        for topic, n in month.confirmed.items():
            confirmed[topic] += n
        for (before, after), n in month.corrected.items():
            wrong[before] += n
            chosen[after] += n
    rows = []
    for topic in {*confirmed, *wrong, *chosen}:
        judged = confirmed[topic] + wrong[topic]
        rows.append(
            TopicCheckRow(
                topic=topic,
                confirmed=confirmed[topic],
                corrected_from=wrong[topic],
                corrected_to=chosen[topic],
                right_share=confirmed[topic] / judged if judged else None,
            )
        )
    rows.sort(key=lambda r: (-(r.confirmed + r.corrected_from + r.corrected_to), r.topic))
    return tuple(rows)


def _person_rows(
    conn: Connection,
    filters: Filters,
    figures: Sequence[MonthFigures],
    cache: StatsCache | None,
) -> tuple[tuple[PersonRow, ...], tuple[PersonRow, ...], PersonRow | None]:
    """The months' per-person figures merged, with the open incidents assigned now: (staff
    busiest first, the actors of ``NOT_PEOPLE`` in their order, the staff together). The
    percentiles of months that did not change since the last view come from the ``cache``."""
    percentile = cache.percentile if cache is not None else percentile_cont
    assigned = {
        str(person): int(n)
        for person, n in conn.execute(
            select(incident.assignee, func.count())
            .where(
                *scope(filters, period=False),
                incident.status == "open",
                incident.assignee.is_not(None),
            )
            .group_by(incident.assignee)
        )
    }
    merged: dict[str, list[PersonMonth]] = defaultdict(list)
    for month in figures:
        for person, part in (month.people or {}).items():
            merged[person].append(part)
    actors = set(merged) | set(assigned)
    if filters.person is not None:
        actors &= {filters.person}

    def row(person: str, parts: Sequence[PersonMonth], open_assigned: int) -> PersonRow:
        working = [p.working for p in parts]
        calendar = [p.calendar for p in parts]
        return PersonRow(
            person=person,
            answers=sum(p.answers for p in parts),
            on_time=sum(p.on_time for p in parts),
            median_working_hours=_hours(percentile(working, 0.5)),
            p90_working_hours=_hours(percentile(working, 0.9)),
            median_hours=_hours(percentile(calendar, 0.5)),
            p90_hours=_hours(percentile(calendar, 0.9)),
            moves_to_private=sum(p.moves_to_private for p in parts),
            redirects=sum(p.redirects for p in parts),
            corrections=sum(p.corrections for p in parts),
            open_assigned=open_assigned,
        )

    staff = [row(a, merged.get(a, []), assigned.get(a, 0)) for a in actors if a not in NOT_PEOPLE]
    staff.sort(key=lambda r: (-r.answers, -r.open_assigned, r.person))
    apart = [row(a, merged.get(a, []), assigned.get(a, 0)) for a in NOT_PEOPLE if a in actors]
    total = None
    if staff:
        parts = [p for r in staff for p in merged.get(r.person, [])]
        total = row("", parts, sum(r.open_assigned for r in staff))
    return tuple(staff), tuple(apart), total


def by_platform(
    conn: Connection,
    filters: Filters,
    now: datetime,
    platforms: Sequence[str],
    cache: StatsCache | None = None,
) -> tuple[PlatformRow, ...]:
    """The figures of ``filters`` side by side for each of ``platforms`` that has incidents
    in the period (only the filters' own platform, if they name one), the busiest first.

    Each line is ``compute`` of the filters narrowed to its platform, so it is exact (its
    median is that platform's median) and the web app's cache keeps each platform's months as
    it keeps the page's. Apart from ``compute`` on purpose: the page's own figures do not pay
    for it (the page fetches this table after it is shown)."""
    chosen = [filters.platform] if filters.platform else list(platforms)
    rows = []
    for platform in chosen:
        figures = compute(conn, replace(filters, platform=platform), now, cache)
        if figures.comments:
            rows.append(PlatformRow.of(platform, figures))
    rows.sort(key=lambda r: (-r.comments, r.platform))
    return tuple(rows)


def _daily_response(day: date, answers: DayAnswers) -> DailyResponse:
    return DailyResponse(
        day=day,
        answered=answers.answered,
        median_working_hours=answers.median_working_hours,
        median_hours=answers.median_hours,
    )


def compute_month(
    conn: Connection, piece: Filters, now: datetime, *, people: bool = False
) -> MonthFigures:
    """The figures of one piece of the period (a month or part of one, see ``months``), read
    from the database as of ``now``: counts per day and topic, the daily medians, and the
    sorted answer times that ``compute`` merges with the other months'; with ``people``, each
    actor's figures too (``PersonMonth``). Kept day by day too (``MonthFigures.parts``)."""
    parts = compute_days(conn, piece, now, people=people)
    return merge_days(piece.start, piece.end, len(piece.local_days()), parts, now, people=people)


def compute_days(
    conn: Connection,
    piece: Filters,
    now: datetime,
    *,
    people: bool = False,
    only: Collection[int] | None = None,
) -> dict[int, MonthFigures]:
    """Each local day's figures of ``piece`` as of ``now`` (day index in the piece -> the
    figures of that day alone; days without incidents left out), from one read of all of
    them; with ``only``, of those days only (the cache's changed days)."""
    spans = _day_spans(piece)
    chosen = sorted(set(range(len(spans))) if only is None else set(only))
    if not chosen:
        return {}
    days = _day_bounds(conn, {i: spans[i] for i in chosen})
    # Read in full: the chosen days' span; the few rows of other tables: the days exactly.
    where = _joined_scope(conn, piece, None if only is None else [spans[i] for i in chosen])
    exactly = _joined_scope(
        conn, piece, None if only is None else [spans[i] for i in chosen], exact=True
    )
    human = human_answer()
    pending = and_(~human, incident.status != "closed", incident.due_at.is_not(None))
    is_overdue = and_(pending, incident.due_at < now)  # no human answer, not closed, past due
    is_on_time = and_(human, incident.on_time.is_(True))
    is_late = and_(human, incident.on_time.is_(False))
    is_closed_without_answer = and_(~human, incident.status == "closed")
    topic = func.coalesce(incident.topic, UNCLASSIFIED).label("topic")
    next_due = func.min(case((and_(pending, incident.due_at >= now), incident.due_at)))
    columns: list[Any] = [
        days.c.i.label("day"),
        topic,
        next_due.label("next_due"),
        func.sum(incident.moves_to_private).label("moves_to_private"),
        func.sum(incident.redirects).label("redirects"),
        func.count().label("comments"),
        func.sum(case((human, 1), else_=0)).label("answered"),
        func.sum(case((is_on_time, 1), else_=0)).label("on_time"),
        func.sum(case((is_late, 1), else_=0)).label("late"),
        func.sum(case((is_closed_without_answer, 1), else_=0)).label("closed_without_answer"),
        func.sum(case((is_overdue, 1), else_=0)).label("overdue"),
    ]
    groups: list[Any] = [days.c.i, topic]
    # PostgreSQL with the per-person figures: one scan for both, grouped by actor too, each
    # group's answer times unsorted (one read of the days instead of two).
    combined = people and conn.dialect.name == "postgresql"
    read = _Read()
    if combined:
        actor = func.coalesce(incident.first_response_by, "")
        rws, rs = incident.response_working_seconds, incident.response_seconds
        answered_any = incident.first_response_at.is_not(None)
        timed = and_(answered_any, rws.is_not(None), rs.is_not(None))
        columns += [
            actor,
            func.count().filter(answered_any),
            func.count().filter(and_(answered_any, incident.on_time.is_(True))),
            func.array_agg(rws).filter(timed),
            func.array_agg(rs).filter(timed),
        ]
        groups.append(actor)
    statement = (
        select(*columns)
        .select_from(days.join(db.incidents, _in_day(days)))
        .where(*where)
        .group_by(*groups)
    )
    grouped: Sequence[Any]
    if combined:
        rows = _fetch_plain_tuples(conn, statement)
        for row in rows:
            day, person, n, n_on_time, working, calendar = row[0], *row[11:]
            if n:
                read.answer(day, person, int(n), int(n_on_time or 0), working, calendar)
        grouped = [row[:11] for row in rows]
    else:
        grouped = conn.execute(statement).all()
    per_topic: dict[int, dict[str, Counts]] = defaultdict(dict)
    next_dues: dict[int, datetime | None] = {}
    moves: dict[int, int] = defaultdict(int)
    redirects: dict[int, int] = defaultdict(int)
    # Unpacked by name in the select's order: a Row's attributes cost ~30 % of a year's
    # uncached computation on SQLite (measured with bench/stats.py).
    for (
        day,
        topic_id,
        due,
        day_moves,
        day_redirects,
        comments,
        answered,
        on_time,
        late,
        closed_without_answer,
        overdue,
    ) in grouped:
        counts = Counts(
            comments=int(comments),
            answered=int(answered or 0),
            on_time=int(on_time or 0),
            late=int(late or 0),
            closed_without_answer=int(closed_without_answer or 0),
            overdue=int(overdue or 0),
        )
        i = int(day)
        topics = per_topic[i]
        before = topics.get(topic_id)
        topics[topic_id] = counts if before is None else before.plus(counts)
        earliest = next_dues.get(i)
        if due is not None and (earliest is None or due < earliest):
            earliest = due
        next_dues[i] = earliest
        moves[i] += int(day_moves or 0)
        redirects[i] += int(day_redirects or 0)
    # The topic checks of the days by the opening time they carry (their own index), each
    # with its incident for the filters.
    others = scope(piece, period=False)
    tcf = db.topic_confirmations.c
    confirmed: dict[int, dict[str, int]] = defaultdict(dict)
    for day, topic_id, n in conn.execute(
        select(days.c.i, tcf.topic, func.count())
        .select_from(
            days.join(db.topic_confirmations, _in_day(days, tcf.incident_opened_at)).join(
                db.incidents, incident.id == tcf.incident_id
            )
        )
        .where(*others)
        .group_by(days.c.i, tcf.topic)
    ):
        confirmed[int(day)][str(topic_id)] = int(n)
    tc = db.topic_corrections.c
    corrected: dict[int, dict[tuple[str, str], int]] = defaultdict(dict)
    by_actor: dict[tuple[int, str], int] = defaultdict(int)  # (day, actor) -> corrections
    for day, person, before, after, n in conn.execute(
        select(days.c.i, tc.actor, tc.from_topic, tc.to_topic, func.count())
        .select_from(
            days.join(db.topic_corrections, _in_day(days, tc.incident_opened_at)).join(
                db.incidents, incident.id == tc.incident_id
            )
        )
        .where(*others)
        .group_by(days.c.i, tc.actor, tc.from_topic, tc.to_topic)
    ):
        change = (str(before or UNCLASSIFIED), str(after))
        changes = corrected[int(day)]
        changes[change] = changes.get(change, 0) + int(n)
        by_actor[(int(day), str(person))] += int(n)
    per_person: dict[int, dict[str, PersonMonth]] = {}
    if combined:
        per_person = _people_days(conn, piece, exactly, days, read, by_actor, spans, chosen)
    elif people:  # SQLite
        _read_answers_by_actor(conn, where, days, read)
        per_person = _people_days(conn, piece, exactly, days, read, by_actor, spans, chosen)
    else:
        _read_answer_times(conn, where, days, read)
    slowest = _slowest(conn, piece, [(i, spans[i]) for i in chosen], read)
    parts = {}
    for i, topics in per_topic.items():
        working, calendar = read.day_times.get(i, ([], []))
        working.sort()
        calendar.sort()
        lo, hi = spans[i]
        parts[i] = MonthFigures(
            start=lo,
            end=hi,
            per_topic=topics,
            volume={k: (c.comments,) for k, c in topics.items()},
            daily={0: _day_answers(working, calendar)} if working else {},
            days=1,
            working=array("q", working),
            calendar=array("q", calendar),
            moves_to_private=moves[i],
            redirects=redirects[i],
            computed_for=now,
            valid_until=next_dues[i],
            people=per_person.get(i, {}) if people else None,
            slowest=tuple(sorted(slowest.get(i, ()), key=slowest_first)),
            confirmed=confirmed.get(i, {}),
            corrected=corrected.get(i, {}),
        )
    return parts


class _Read:
    """What was read of the chosen days' answers: per day, the human answers' times
    (unsorted); per day and actor, [answers, on time] and their times (the automatic actors'
    too: they are listed apart). Answers without a recorded author count under ``""``."""

    def __init__(self) -> None:
        self.day_times: dict[int, tuple[list[int], list[int]]] = {}
        self.tallies: dict[tuple[int, str], list[int]] = {}
        self.times: dict[tuple[int, str], tuple[list[int], list[int]]] = {}

    def answer(
        self,
        day: int,
        person: str,
        n: int,
        on_time: int,
        working: Sequence[int] | None,
        calendar: Sequence[int] | None,
    ) -> None:
        """``n`` first answers by ``person`` to incidents of ``day``, ``on_time`` of them by
        the deadline, with their times (None or empty: none recorded)."""
        key = (day, person)
        tally = self.tallies.get(key)
        if tally is None:
            tally = self.tallies[key] = [0, 0]
        tally[0] += n
        tally[1] += on_time
        if working and calendar:
            mine = self.times.get(key)
            if mine is None:
                mine = self.times[key] = ([], [])
            mine[0].extend(working)
            mine[1].extend(calendar)
            if person not in AUTOMATIC_ACTORS:
                self.human(day, working, calendar)

    def human(self, day: int, working: Iterable[int], calendar: Iterable[int]) -> None:
        """Human answers to incidents of ``day`` with these times."""
        pair = self.day_times.get(day)
        if pair is None:
            pair = self.day_times[day] = ([], [])
        pair[0].extend(working)
        pair[1].extend(calendar)


def _day_answers(working: Sequence[int], calendar: Sequence[int]) -> DayAnswers:
    """A day's human answers from their sorted times: how many, and the medians."""
    return DayAnswers(
        answered=len(working),
        median_working_hours=_hours(percentile_cont([working], 0.5)),
        median_hours=_hours(percentile_cont([calendar], 0.5)),
    )


def _read_answer_times(
    conn: Connection, scoped: Sequence[ColumnElement[bool]], days: CTE, read: _Read
) -> None:
    """The chosen days' human answer times into ``read`` (``scoped``: ``_joined_scope``)."""
    rws, rs = incident.response_working_seconds, incident.response_seconds
    where = [*scoped, human_answer(), rws.is_not(None), rs.is_not(None)]
    joined = days.join(db.incidents, _in_day(days))
    if conn.dialect.name == "postgresql":  # one array of each per day
        for day, working, calendar in _fetch_plain_tuples(
            conn,
            select(days.c.i, func.array_agg(rws), func.array_agg(rs))
            .select_from(joined)
            .where(*where)
            .group_by(days.c.i),
        ):
            read.human(int(day), working, calendar)
        return
    # SQLite: the stored numbers (a covering index scan), grouped here. Plain tuples.
    for day, working_seconds, calendar_seconds in _fetch_plain_tuples(
        conn, select(days.c.i, rws, rs).select_from(joined).where(*where)
    ):
        pair = read.day_times.get(day)
        if pair is None:
            pair = read.day_times[day] = ([], [])
        pair[0].append(working_seconds)
        pair[1].append(calendar_seconds)


def _read_answers_by_actor(
    conn: Connection, scoped: Sequence[ColumnElement[bool]], days: CTE, read: _Read
) -> None:
    """SQLite: the chosen days' first answers by actor into ``read``, from the rows
    themselves (a covering index scan), grouped here."""
    actor = func.coalesce(incident.first_response_by, "")
    rws, rs = incident.response_working_seconds, incident.response_seconds
    joined = days.join(db.incidents, _in_day(days))
    where = [*scoped, incident.first_response_at.is_not(None)]
    tallies, times, day_times = read.tallies, read.times, read.day_times
    for day, person, on_time, working_seconds, calendar_seconds in _fetch_plain_tuples(
        conn,
        select(days.c.i, actor, incident.on_time, rws, rs).select_from(joined).where(*where),
    ):
        key = (day, person)
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = [0, 0]
        tally[0] += 1
        if on_time:
            tally[1] += 1
        if working_seconds is not None and calendar_seconds is not None:
            mine = times.get(key)
            if mine is None:
                mine = times[key] = ([], [])
            mine[0].append(working_seconds)
            mine[1].append(calendar_seconds)
            if person not in AUTOMATIC_ACTORS:
                that_day = day_times.get(day)
                if that_day is None:
                    that_day = day_times[day] = ([], [])
                that_day[0].append(working_seconds)
                that_day[1].append(calendar_seconds)


def _people_days(
    conn: Connection,
    piece: Filters,
    where: Sequence[ColumnElement[bool]],
    days: CTE,
    read: _Read,
    corrections: Mapping[tuple[int, str], int],
    spans: Sequence[tuple[datetime, datetime]],
    chosen: Sequence[int],
) -> dict[int, dict[str, PersonMonth]]:
    """Each actor's figures on each chosen day, from what was read of the answers and the
    topic corrections ((day, actor) -> how many), with the posted moves and redirects read
    here (``where``: ``_joined_scope``)."""
    o = db.outbox.c
    kinds: dict[tuple[int, str], list[int]] = {}  # (day, person) -> [moves, redirects]
    posted = [
        o.status == "posted",
        o.kind.in_((ReplyKind.MOVE_TO_PRIVATE.value, ReplyKind.REDIRECT.value)),
    ]
    replies: Iterable[tuple[Any, ...]]
    if conn.dialect.name == "postgresql":
        # The incidents with a person's move or redirect (counted on them by the triggers),
        # day by day through their partial index, then their outbox rows by index; joined,
        # it would hash the whole outbox.
        moved = {
            incident_id: day
            for day, incident_id in conn.execute(
                select(days.c.i, incident.id)
                .select_from(days.join(db.incidents, _in_day(days)))
                .where(
                    *scope(piece, period=False),
                    or_(incident.moves_to_private > 0, incident.redirects > 0),
                )
            )
        }
        ids = bindparam("moved", list(moved), type_=ARRAY(BigInteger))
        replies = (
            (moved[incident_id], person, kind, n)
            for incident_id, person, kind, n in conn.execute(
                select(o.incident_id, o.created_by, o.kind, func.count())
                .where(o.incident_id == any_(ids), *posted)
                .group_by(o.incident_id, o.created_by, o.kind)
            )
        )
    else:
        # The same joined. SQLite would rather scan the whole outbox once per day and find
        # each row's incident by its key: "+ 0" leaves it no key to find it by.
        replies = conn.execute(
            select(days.c.i, o.created_by, o.kind, func.count())
            .select_from(
                days.join(db.incidents, _in_day(days)).join(
                    db.outbox, o.incident_id == incident.id + 0
                )
            )
            .where(*where, incident.moves_to_private + incident.redirects > 0, *posted)
            .group_by(days.c.i, o.created_by, o.kind)
        )
    for day, person, kind, n in replies:
        pair = kinds.setdefault((int(day), str(person)), [0, 0])
        pair[0 if kind == ReplyKind.MOVE_TO_PRIVATE.value else 1] += int(n)
    result: dict[int, dict[str, PersonMonth]] = defaultdict(dict)
    for key in read.tallies.keys() | kinds.keys() | corrections.keys():
        working, calendar = read.times.get(key, ([], []))
        n, on_time = read.tallies.get(key, (0, 0))
        sent = kinds.get(key, (0, 0))
        result[key[0]][key[1]] = PersonMonth(
            answers=n,
            on_time=on_time,
            working=array("q", sorted(working)),
            calendar=array("q", sorted(calendar)),
            moves_to_private=sent[0],
            redirects=sent[1],
            corrections=corrections.get(key, 0),
        )
    return result


def _day_spans(piece: Filters) -> list[tuple[datetime, datetime]]:
    """Each local day's span of ``piece``, clipped to it."""
    tz = piece.tz
    spans = []
    for d in piece.local_days():
        lo = max(piece.start, datetime.combine(d, time(0), tzinfo=tz))
        hi = min(piece.end, datetime.combine(d + timedelta(days=1), time(0), tzinfo=tz))
        spans.append((lo, hi))
    return spans


def _day_bounds(conn: Connection, spans: Mapping[int, tuple[datetime, datetime]]) -> CTE:
    """A table (i, lo, hi): the chosen local days' UTC spans (``_day_spans``), by index.

    Joining incidents on ``lo <= opened_at < hi`` buckets them into local days with index
    range scans and no per-row time-zone arithmetic, exactly across daylight-saving changes.

    PostgreSQL gets three arrays unnested: the statement has the same shape whatever the days,
    so SQLAlchemy compiles it once (compiling a statement with the days inlined took about a
    tenth of a view in use). SQLite gets the moments inlined as literals (we make them from
    datetimes; nothing comes from a user): a year's 1,100 bound parameters cost more to compile
    than the query takes to run.
    """
    ordered = sorted(spans.items())
    if conn.dialect.name == "postgresql":
        moments = ARRAY(DateTime(timezone=True))
        table = (
            func.unnest(
                bindparam("day_index", [i for i, _ in ordered], type_=ARRAY(Integer)),
                bindparam("day_lo", [lo for _, (lo, _) in ordered], type_=moments),
                bindparam("day_hi", [hi for _, (_, hi) in ordered], type_=moments),
            )
            .table_valued(column("i", Integer), column("lo", db.UtcDateTime), "hi")
            .render_derived(name="day_spans")
        )
        return select(table.c.i, table.c.lo, table.c.hi).cte("days")

    def literal(moment: datetime) -> str:  # the text form SQLAlchemy stores SQLite datetimes in
        utc = moment.astimezone(UTC)
        return f"'{utc.replace(tzinfo=None).isoformat(sep=' ', timespec='microseconds')}'"

    rows = [f"({i}, {literal(lo)}, {literal(hi)})" for i, (lo, hi) in ordered]
    values_sql = ", ".join(rows)
    head = "SELECT column1 AS i, column2 AS lo, column3 AS hi FROM (VALUES "
    sql = f"{head}{values_sql}) AS v ORDER BY column1"  # the literals are made above
    return (
        text(sql)
        .columns(column("i", Integer), column("lo", db.UtcDateTime), column("hi", db.UtcDateTime))
        .cte("days")
    )


def _in_day(days: CTE, opened_at: ColumnElement[Any] = incident.opened_at) -> ColumnElement[bool]:
    return and_(opened_at >= days.c.lo, opened_at < days.c.hi)


def _joined_scope(
    conn: Connection,
    filters: Filters,
    spans: Sequence[tuple[datetime, datetime]] | None = None,
    *,
    exact: bool = False,
) -> list[ColumnElement[bool]]:
    """The filters for a query joined with the days table. PostgreSQL needs the period
    repeated, or with a community filter it reads all of the community's rows and matches
    them to the days afterwards; SQLite's planner does the opposite with it (it scans the
    whole period once per day: 30 times slower for a year), so it gets the days alone.

    ``spans``: only these days (sorted) of the period are read. PostgreSQL gets the span
    from the first to the last of them; ``exact``: each of them (OR'd ranges: it then reads
    only their rows of ``ix_incidents_opened``, right for joins with other tables, but the
    covering index's range scan is faster for the incidents alone)."""
    if conn.dialect.name != "postgresql":
        return scope(filters, period=False)
    if spans is None:
        return scope(filters)
    if not exact:
        lo, hi = spans[0][0], spans[-1][1]
        return [incident.opened_at >= lo, incident.opened_at < hi, *scope(filters, period=False)]
    return [_exact_days(filters, spans), *scope(filters, period=False)]


def _exact_days(
    filters: Filters, spans: Sequence[tuple[datetime, datetime]]
) -> ColumnElement[bool]:
    """Opened in one of ``spans``."""
    return or_(*(and_(incident.opened_at >= lo, incident.opened_at < hi) for lo, hi in spans))


def _day_of(starts: Sequence[float], chosen: Sequence[int], at: datetime) -> int:
    """The index of the chosen day ``at`` is in (``starts``: the chosen days' starts as
    timestamps, in the order of ``chosen``, their indexes). Timestamps: comparing datetimes
    of two time zones asks the zone for its offset every time."""
    return chosen[bisect_right(starts, at.timestamp()) - 1]


def _slowest(
    conn: Connection,
    piece: Filters,
    days: Sequence[tuple[int, tuple[datetime, datetime]]],
    read: _Read,
) -> dict[int, list[SlowIncident]]:
    """Each chosen day's ``SLOWEST_LIMIT`` slowest human answers (``slowest_first``).

    The day's answer times were read already (``read.day_times``: those with both times):
    no answer slower than the tenth slowest of them is missing from them, so the days read
    only their rows at least as slow as the lowest such floor (days with fewer answers: all
    of them), in one range through the covering index (``ix_incidents_stats`` holds the
    working seconds: only those rows are fetched); rows of the other days are dropped."""
    rws = incident.response_working_seconds
    floors, few = [], []
    for i, (lo, hi) in days:
        working = read.day_times.get(i, ([], []))[0]
        if len(working) >= SLOWEST_LIMIT:
            floors.append(sorted(working)[-SLOWEST_LIMIT])
        else:
            few.append(and_(incident.opened_at >= lo, incident.opened_at < hi))
    first, last = days[0][1][0], days[-1][1][1]
    ranges = few
    if floors:
        ranges.append(
            and_(incident.opened_at >= first, incident.opened_at < last, rws >= min(floors))
        )
    found: dict[int, list[SlowIncident]] = defaultdict(list)
    chosen = [i for i, _ in days]
    starts = [lo.timestamp() for _, (lo, _) in days]
    ends = {i: hi.timestamp() for i, (_, hi) in days}
    for r in conn.execute(
        select(
            incident.id,
            incident.community,
            incident.platform,
            incident.topic,
            incident.opened_at,
            incident.first_response_at,
            incident.first_response_by,
            rws,
            incident.response_seconds,
        ).where(or_(*ranges), *scope(piece, period=False), human_answer(), rws.is_not(None))
    ):
        day = _day_of(starts, chosen, r.opened_at)
        if not r.opened_at.timestamp() < ends[day]:
            continue  # between two chosen days
        found[day].append(
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
        )
    return {day: heapq.nsmallest(SLOWEST_LIMIT, rows, slowest_first) for day, rows in found.items()}


def _fetch_plain_tuples(conn: Connection, stmt: Select[*tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Plain tuples from the driver: building 100,000 Row objects would cost more than the
    query. Executed through SQLAlchemy (its cache compiles a statement of the same shape once),
    fetched from the driver's cursor: the values as the driver gives them (ints, strings,
    PostgreSQL's arrays as lists), none of the columns' result processing."""
    result = conn.execute(stmt)
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    return cast(list[tuple[Any, ...]], rows)


def _hours(seconds: Any) -> float | None:
    return None if seconds is None else float(seconds) / 3600
