"""Statistics benchmark: the statistics page over a year of incidents, PostgreSQL and SQLite.

Generates the rows with set-based SQL (PostgreSQL ``generate_series``, SQLite a recursive CTE)
and prints how long that took; then times ``stats.compute`` (every figure of the statistics
page: counts, shares, median and p90 in working and calendar hours, daily volume by topic,
daily medians, open/overdue now, moves and redirects, the slowest incidents) for the whole
year, every community:

- the page in use, the target (PostgreSQL 1,000,000 rows < 500 ms, SQLite 100,000 rows
  < 300 ms, at p95 of 20 views): the web app's ``StatsCache``, with 20 new comments in the
  last month and one late answer in an earlier month written before each view (``Writer``),
  so every view recomputes two months; with the per-person table and without it, each on its
  own cache, in alternating order, so its cost is measured in the same run;
- the first view after a restart: a new cache warmed as ``incident web`` warms it at start
  (``stats.warm_year``, timed too), then the year's view (the same target);
- the first view with nothing warmed, the page with nothing changed, the computation without
  a cache (reports and exports), and one month of one community.

The baseline, measured in the same run, is what the stored answer figures avoid: reading the
year's rows and computing working hours and the figures in Python at query time. It runs
once (it is slow). The run stops with an error if the cached figures differ from fresh ones.
``--keep-db NAME`` keeps the PostgreSQL database (generated only when it does not exist yet:
a million rows take minutes on a small machine) for the next run.

Usage: python bench/stats.py [--postgres URL] [--pg-rows 1000000] [--sqlite-rows 100000]
       [--runs 20] [--skip-postgres] [--skip-sqlite] [--keep-db NAME]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, insert, select, text, update
from sqlalchemy.engine import make_url

from incident import db, migrate, stats
from incident.db import make_engine
from incident.sla import SlaSettings
from incident.stats import Filters
from incident.workcal import working_time_between

YEAR_START = datetime(2025, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
YEAR = Filters.for_days(date(2025, 11, 1), date(2026, 10, 31))
MONTH = Filters.for_month(2026, 10, community="7")
TOPICS = [
    "trade",
    "services",
    "food",
    "telecom",
    "finance",
    "transport",
    "housing",
    "medical",
    "other",
    "spam",
]
COMMUNITIES = 20

PG_GENERATE = [
    """
    INSERT INTO comments (id, platform, community, post_id, external_id, author_id, text,
                          created_at, seen_at, from_community, deleted, edits, raw, updated_at)
    SELECT i, (ARRAY['vk','ok','telegram'])[1 + i % 3], (i % :communities)::text,
           (i % 1000)::text, i::text, (i % 5000)::text, 'Магазин не вернул деньги',
           t, t, false, false, '[]'::jsonb, '{}'::jsonb, t
    FROM (SELECT row_number() OVER (ORDER BY t) AS i, t  -- ids follow time, as in real life
          FROM (SELECT CAST(:start AS timestamptz) + random() * interval '365 days' AS t
                FROM generate_series(1, :n)) AS r) AS s
    """,
    """
    INSERT INTO incidents (id, comment_id, platform, community, source, status, topic,
                           opened_at, due_at, first_response_at, first_response_by,
                           response_seconds, response_working_seconds, on_time,
                           created_at, updated_at)
    SELECT id, id, platform, community, 'src-' || community,
           CASE WHEN ans THEN 'answered' WHEN id % 7 = 0 THEN 'closed' ELSE 'open' END,
           (CAST(:topics AS text[]))[1 + id % 10], created_at, created_at + interval '24 hours',
           CASE WHEN ans THEN created_at + rs * interval '1 second' END,
           CASE WHEN ans THEN CASE WHEN id % 4 = 0 THEN 'platform' ELSE 'user' || (id % 15) END END,
           CASE WHEN ans THEN rs END, CASE WHEN ans THEN (rs * 0.4)::bigint END,
           CASE WHEN ans THEN rs <= 86400 END, created_at, created_at
    FROM (SELECT c.*, random() < 0.9 AS ans,
                 (-ln(1 - random()) * 6 * 3600)::bigint AS rs FROM comments AS c) AS s
    """,
    """
    INSERT INTO outbox (incident_id, source, text, status, created_by, created_at, attempts,
                        next_attempt_at, updated_at, kind)
    SELECT id, source, 'Напишите нам', 'posted', 'user1', opened_at, 1, opened_at, opened_at,
           CASE WHEN id % 40 = 0 THEN 'redirect' ELSE 'move-to-private' END
    FROM incidents WHERE id % 20 = 0
    """,
    # who holds what: a third of the open incidents is assigned to someone
    """
    UPDATE incidents SET assignee = 'user' || (id % 15) WHERE status = 'open' AND id % 3 = 0
    """,
    # one incident in 50 had its topic corrected by hand
    """
    INSERT INTO topic_corrections (incident_id, from_topic, to_topic, actor, at,
                                   incident_opened_at)
    SELECT id, 'other', topic, 'user' || (id % 15), opened_at + interval '1 hour', opened_at
    FROM incidents WHERE id % 50 = 0
    """,
    # written over the past year, not just now (the triggers keep a stamp that is set)
    "UPDATE incidents SET changed_at = extract(epoch FROM updated_at)",
]

SQLITE_GENERATE = [
    """
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n)
    INSERT INTO comments (id, platform, community, post_id, external_id, author_id, text,
                          created_at, seen_at, from_community, deleted, edits, raw, updated_at)
    SELECT i, CASE i % 3 WHEN 0 THEN 'vk' WHEN 1 THEN 'ok' ELSE 'telegram' END,
           CAST(i % :communities AS TEXT), CAST(i % 1000 AS TEXT), CAST(i AS TEXT),
           CAST(i % 5000 AS TEXT), 'Магазин не вернул деньги', t, t, 0, 0, '[]', '{}', t
    FROM (SELECT row_number() OVER (ORDER BY t) AS i, t  -- ids follow time, as in real life
          FROM (SELECT strftime('%Y-%m-%d %H:%M:%S', :start_epoch + abs(random()) % 31536000,
                                'unixepoch') || '.000000' AS t FROM s))
    """,
    """
    INSERT INTO incidents (id, comment_id, platform, community, source, status, topic,
                           opened_at, due_at, first_response_at, first_response_by,
                           response_seconds, response_working_seconds, on_time,
                           created_at, updated_at)
    SELECT id, id, platform, community, 'src-' || community,
           CASE WHEN ans THEN 'answered' WHEN id % 7 = 0 THEN 'closed' ELSE 'open' END,
           CASE id % 10 WHEN 0 THEN 'trade' WHEN 1 THEN 'services' WHEN 2 THEN 'food'
             WHEN 3 THEN 'telecom' WHEN 4 THEN 'finance' WHEN 5 THEN 'transport'
             WHEN 6 THEN 'housing' WHEN 7 THEN 'medical' WHEN 8 THEN 'other' ELSE 'spam' END,
           created_at,
           strftime('%Y-%m-%d %H:%M:%S', created_at, '+1 day') || '.000000',
           CASE WHEN ans THEN strftime('%Y-%m-%d %H:%M:%S', created_at,
                                       '+' || rs || ' seconds') || '.000000' END,
           CASE WHEN ans THEN CASE WHEN id % 4 = 0 THEN 'platform' ELSE 'user' || (id % 15) END
           END,
           CASE WHEN ans THEN rs END, CASE WHEN ans THEN rs * 4 / 10 END,
           CASE WHEN ans THEN rs <= 86400 END, created_at, created_at
    FROM (SELECT c.*, (id * 7919) % 10 < 9 AS ans,  -- SQLite re-evaluates random() per use
                 ((id * 104729) % 43200) * (1 + (id * 31) % 3) / 2 AS rs
          FROM comments AS c)
    """,
    """
    INSERT INTO outbox (incident_id, source, text, status, created_by, created_at, attempts,
                        next_attempt_at, updated_at, kind)
    SELECT id, source, 'Напишите нам', 'posted', 'user1', opened_at, 1, opened_at, opened_at,
           CASE WHEN id % 40 = 0 THEN 'redirect' ELSE 'move-to-private' END
    FROM incidents WHERE id % 20 = 0
    """,
    "UPDATE incidents SET assignee = 'user' || (id % 15) WHERE status = 'open' AND id % 3 = 0",
    """
    INSERT INTO topic_corrections (incident_id, from_topic, to_topic, actor, at,
                                   incident_opened_at)
    SELECT id, 'other', topic, 'user' || (id % 15), opened_at, opened_at
    FROM incidents WHERE id % 50 = 0
    """,
    # written over the past year, not just now (the triggers keep a stamp that is set)
    "UPDATE incidents SET changed_at = (julianday(updated_at) - 2440587.5) * 86400.0",
    "ANALYZE",
]


def generate(engine: Engine, statements: list[str], params: dict[str, Any]) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        for sql in statements:
            used = {k: v for k, v in params.items() if f":{k}" in sql}
            conn.execute(text(sql), used)
    return time.perf_counter() - started


def timed(runs: int, work: Callable[[], object]) -> list[float]:
    work()  # warm the caches once
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return samples


def compute(engine: Engine, filters: Filters, cache: stats.StatsCache | None = None) -> stats.Stats:
    with engine.begin() as conn:
        return stats.compute(conn, filters, NOW, cache)


def python_side(engine: Engine, filters: Filters, settings: SlaSettings) -> dict[str, Any]:
    """The baseline: working hours per row in Python at query time, figures in Python."""
    i = db.incidents.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(i.opened_at, i.first_response_at, i.first_response_by, i.due_at, i.topic).where(
                i.opened_at >= filters.start, i.opened_at < filters.end
            )
        ).all()
    working, calendar, daily = [], [], Counter[tuple[date, str]]()
    on_time = 0
    tz = filters.tz
    for r in rows:
        daily[(r.opened_at.astimezone(tz).date(), r.topic)] += 1
        if r.first_response_at is None or r.first_response_by == "worker":
            continue
        working.append(
            working_time_between(r.opened_at, r.first_response_at, settings.calendar).seconds
        )
        calendar.append((r.first_response_at - r.opened_at).total_seconds())
        on_time += r.first_response_at <= r.due_at
    return {
        "median_working": statistics.median(working),
        "p90_working": statistics.quantiles(working, n=10, method="inclusive")[8],
        "median": statistics.median(calendar),
        "p90": statistics.quantiles(calendar, n=10, method="inclusive")[8],
        "daily": len(daily),
        "on_time": on_time,
    }


class Writer:
    """What the worker and the staff do between two views of the page: new comments in the
    period's last month (the current one), and a late answer to an open incident of an
    earlier month (someone clearing an old backlog). Each view then finds two months changed.
    """

    def __init__(self, engine: Engine, seed: int = 1) -> None:
        self.engine = engine
        self.rng = random.Random(seed)
        self.pieces = stats.months(YEAR)

    def write(self, new: int = 20) -> None:
        i, c = db.incidents.c, db.comments.c
        last = self.pieces[-1]
        with self.engine.begin() as conn:
            top = int(conn.execute(select(func.max(c.id))).scalar_one())
            for k in range(1, new + 1):
                opened = last.start + (last.end - last.start) * self.rng.random()
                conn.execute(
                    insert(db.comments).values(
                        id=top + k,
                        platform="vk",
                        community="3",
                        post_id="1",
                        external_id=f"live-{top + k}",
                        author_id="1",
                        text="Новый отзыв",
                        created_at=opened,
                        seen_at=opened,
                        from_community=False,
                        deleted=False,
                        edits=[],
                        raw={},
                        updated_at=opened,
                    )
                )
                conn.execute(
                    insert(db.incidents).values(
                        id=top + k,
                        comment_id=top + k,
                        platform="vk",
                        community="3",
                        source="src-3",
                        status="open",
                        topic="trade",
                        opened_at=opened,
                        due_at=opened + timedelta(hours=24),
                        created_at=opened,
                        updated_at=opened,
                    )
                )
            old = self.pieces[self.rng.randrange(len(self.pieces) - 1)]
            target = conn.execute(
                select(i.id, i.opened_at)
                .where(i.status == "open", i.opened_at >= old.start, i.opened_at < old.end)
                .limit(1)
            ).first()
            if target is not None:
                answered = target.opened_at + timedelta(days=3)
                seconds = int((answered - target.opened_at).total_seconds())
                conn.execute(
                    update(db.incidents)
                    .where(i.id == target.id)
                    .values(
                        status="answered",
                        first_response_at=answered,
                        first_response_by="anna",
                        response_seconds=seconds,
                        response_working_seconds=seconds * 4 // 10,
                        on_time=False,
                        updated_at=answered,
                    )
                )


def p95(samples: list[float]) -> float:
    """The 95th percentile by nearest rank (of 20 views: the second slowest)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def compute_with(
    engine: Engine, filters: Filters, cache: stats.StatsCache | None, people: bool
) -> stats.Stats:
    with engine.begin() as conn:
        return stats.compute(conn, filters, NOW, cache, people=people)


def report(name: str, rows: int, engine: Engine, runs: int, target_ms: float) -> bool:
    # Without the cache: what `incident report`, the exports and a view without warming do.
    fresh = timed(min(runs, 5), lambda: compute(engine, YEAR))
    month = timed(runs, lambda: compute(engine, MONTH))
    # A restart: a new web process, its cache empty. It warms the current year in the
    # background at start (stats.warm_year, what `incident web` does); then the first view.
    cold_cache = stats.StatsCache()
    started = time.perf_counter()
    compute_with(engine, YEAR, cold_cache, True)
    cold = time.perf_counter() - started
    caches = {True: stats.StatsCache(), False: stats.StatsCache()}
    warmed = {}
    for people, cache in caches.items():
        started = time.perf_counter()
        with engine.begin() as conn:
            stats.warm_year(conn, cache, NOW, YEAR.timezone)
        warmed[people] = time.perf_counter() - started
    first = {}
    for people, cache in caches.items():
        started = time.perf_counter()
        compute_with(engine, YEAR, cache, people)
        first[people] = time.perf_counter() - started
    unchanged = timed(runs, lambda: compute_with(engine, YEAR, caches[True], True))
    # In use: before each view a write (two months change); the page with and without the
    # per-person table, each on its own cache, in alternating order.
    writer = Writer(engine)
    live: dict[bool, list[float]] = {True: [], False: []}
    for k in range(runs):
        writer.write()
        for people in (True, False) if k % 2 == 0 else (False, True):
            started = time.perf_counter()
            compute_with(engine, YEAR, caches[people], people)
            live[people].append(time.perf_counter() - started)
    s = compute_with(engine, YEAR, caches[True], True)
    check = compute_with(engine, YEAR, None, True)
    if s != check:
        raise SystemExit(f"{name}: the cached figures differ from a fresh computation")
    started = time.perf_counter()
    python_side(engine, YEAR, SlaSettings())
    baseline = time.perf_counter() - started
    med_live, med_fresh = statistics.median(live[True]), statistics.median(fresh)
    p95_live, p95_without = p95(live[True]), p95(live[False])
    ok = p95_live * 1000 < target_ms and first[True] * 1000 < target_ms
    print(f"{name}: {rows:,} incidents over a year ({s.comments:,} in the period at the end)")
    print(
        f"  the page in use, whole year, all communities, with the per-person table, 20 new "
        f"comments and one late answer before each view (two months recomputed): median "
        f"{med_live * 1000:.0f} ms, p95 {p95_live * 1000:.0f}, max {max(live[True]) * 1000:.0f}"
        f" (of {runs}); target p95 < {target_ms:.0f} ms: "
        f"{'OK' if p95_live * 1000 < target_ms else 'MISSED'}"
    )
    print(
        f"  the same without the per-person table: median "
        f"{statistics.median(live[False]) * 1000:.0f} ms, p95 {p95_without * 1000:.0f}; "
        f"the table adds {(p95_live / p95_without - 1) * 100:+.0f} % at p95, "
        f"{(med_live / statistics.median(live[False]) - 1) * 100:+.0f} % at the median "
        f"(limit +20 %)"
    )
    print(
        f"  after a restart: warming the current year at start (in the background) "
        f"{warmed[True] * 1000:.0f} ms ({warmed[False] * 1000:.0f} ms a second time); the first"
        f" view after it {first[True] * 1000:.0f} ms (without the table "
        f"{first[False] * 1000:.0f}); target < {target_ms:.0f} ms: "
        f"{'OK' if first[True] * 1000 < target_ms else 'MISSED'}"
    )
    print(
        f"  the first view with nothing warmed (empty cache): {cold * 1000:.0f} ms; "
        f"nothing changed since the last view: median "
        f"{statistics.median(unchanged) * 1000:.0f} ms (of {runs})"
    )
    print(
        f"  without the cache (reports, exports), whole year: median {med_fresh * 1000:.0f} ms "
        f"(of {len(fresh)}); one month of one community: median "
        f"{statistics.median(month) * 1000:.0f} ms (of {runs})"
    )
    print(
        f"  baseline (working hours computed in Python per row at query time, year): "
        f"{baseline * 1000:.0f} ms: {baseline / med_live:.1f}x the page's median, "
        f"{baseline / med_fresh:.1f}x the uncached computation"
    )
    print(
        f"  sanity: cached == fresh; answered {s.answered:,}, on time {s.on_time_share or 0:.1%}, "
        f"median {s.median_working_hours or 0:.2f} working h / {s.median_hours or 0:.2f} h, "
        f"p90 {s.p90_working_hours or 0:.2f} / {s.p90_hours or 0:.2f}, "
        f"moves {s.moves_to_private:,}, redirects {s.redirects:,}, "
        f"{len(s.people)} people and {len(s.automatic)} automatic actors"
    )
    return ok


def bench_postgres(url: str, rows: int, runs: int, keep: str | None = None) -> bool:
    """On a fresh database, dropped at the end; with ``keep``, on that database, generated
    only if it does not exist yet and left in place (a million rows take minutes to make)."""
    name = keep or f"incident_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    target = make_url(url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(target)
    try:
        migrate.upgrade(engine)
        if exists:
            with engine.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(db.incidents)).scalar_one()
            print(f"PostgreSQL: reusing database {name} ({stored:,} incidents)")
            rows = stored
        else:
            took = generate(
                engine,
                PG_GENERATE,
                {"n": rows, "communities": COMMUNITIES, "start": YEAR_START, "topics": TOPICS},
            )
            started = time.perf_counter()
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")  # what autovacuum does to a settled table
            print(
                f"PostgreSQL: generated {rows:,} incidents in {took:.1f} s "
                f"(+ VACUUM ANALYZE {time.perf_counter() - started:.1f} s)"
            )
        return report("PostgreSQL", rows, engine, runs, 500)
    finally:
        engine.dispose()
        if keep is None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_sqlite(rows: int, runs: int) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        try:
            migrate.upgrade(engine)
            took = generate(
                engine,
                SQLITE_GENERATE,
                {
                    "n": rows,
                    "communities": COMMUNITIES,
                    "start_epoch": int(YEAR_START.timestamp()),
                },
            )
            print(f"SQLite: generated {rows:,} incidents in {took:.1f} s")
            return report("SQLite", rows, engine, runs, 300)
        finally:
            engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--pg-rows", type=int, default=1_000_000)
    parser.add_argument("--sqlite-rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--keep-db",
        metavar="NAME",
        help="PostgreSQL: use (and keep) this database; generate it only if it does not exist",
    )
    args = parser.parse_args()
    ok = True
    if not args.skip_sqlite:
        ok &= bench_sqlite(args.sqlite_rows, args.runs)
    if not args.skip_postgres:
        ok &= bench_postgres(args.postgres, args.pg_rows, args.runs, args.keep_db)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
