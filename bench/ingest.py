"""Ingest benchmark: the real pipeline (vk_api over HTTP -> fake VK -> SQLite/PostgreSQL).

Workload: COMMUNITIES x POSTS x COMMENTS top-level comments (default 50 x 20 x 50 = 50,000),
ingested as `incident run` does: classified with the shipped rules, deadlines in working hours.
Prints, for a first (catch-up) sweep and an idle sweep of every community:
- comments stored per second through the whole pipeline;
- API calls per sweep, beside the minimal number for this workload (one wall.get per
  community, plus ceil(COMMENTS/100) wall.getComments per post that has new comments);
- a baseline measured in the same run: the same rows written straight into the comments table
  with one executemany per post (the storage floor, no HTTP, no incidents), and the ratio.

Usage: python bench/ingest.py [--postgres URL] [--communities 50 --posts 20 --comments 50]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from incident import db, migrate, pipeline
from incident.db import make_engine
from incident.pipeline import Ingestion
from incident.rules import load_ruleset
from incident.sla import SlaSettings
from incident.sources.fakes.vk_server import FakeVk
from incident.sources.vk import RetryPolicy, VkSource
from incident.wiring import answer_figures, rule_classifier, working_hours_policy

FIRST_GID = 100_001
RULES = Path(__file__).resolve().parents[1] / "rules"


def build_world(fake: FakeVk, communities: int, posts: int, comments: int) -> int:
    rng = random.Random(1)
    fake.add_token("service", "service")
    for uid in range(1, 51):
        fake.add_user(uid, f"Имя{uid}", f"Фамилия{uid}")
    total = 0
    for g in range(communities):
        gid = FIRST_GID + g
        fake.add_group(gid, f"Комитет {g}")
        fake.add_token(f"community-{gid}", "community", gid)
        for p in range(posts):
            post = fake.add_post(gid, f"Пост {p}")
            for c in range(comments):
                fake.add_comment(
                    gid, post, rng.randint(1, 50), f"Комментарий {g}-{p}-{c}: вопрос про возврат"
                )
                total += 1
    return total


def sources(fake: FakeVk, communities: int, posts: int) -> list[VkSource]:
    return [
        VkSource(
            name=f"vk-{FIRST_GID + g}",
            group_id=FIRST_GID + g,
            community_token=f"community-{FIRST_GID + g}",
            sweep_token="service",
            session_factory=fake.session,
            posts_per_sweep=posts,
            throttle=False,  # measure our code, not vk_api's politeness sleeps
            retry=RetryPolicy(attempts=3, initial=0.01, maximum=0.1),
        )
        for g in range(communities)
    ]


def sweep_all(engine: Engine, srcs: list[VkSource], ingestion: Ingestion) -> tuple[int, int, float]:
    stored = calls = 0
    started = time.perf_counter()
    for s in srcs:
        outcome = pipeline.sweep_once(engine, s, lambda: datetime.now(UTC), ingestion)
        if outcome.error is not None:
            raise SystemExit(f"{s.name}: {outcome.error}")
        stored += outcome.result.stored
        calls += outcome.api_calls
    return stored, calls, time.perf_counter() - started


def baseline(engine: Engine, communities: int, posts: int, comments: int) -> float:
    """The same number of rows, written with one executemany per post: the storage floor."""
    now = datetime.now(UTC)
    started = time.perf_counter()
    for g in range(communities):
        for p in range(posts):
            rows = [
                {
                    "platform": "vk",
                    "community": f"b{g}",
                    "post_id": str(p),
                    "external_id": f"{p}-{c}",
                    "author_id": "1",
                    "text": f"Комментарий {g}-{p}-{c}: вопрос про возврат",
                    "created_at": now,
                    "seen_at": now,
                    "from_community": False,
                    "deleted": False,
                    "edits": [],
                    "raw": {"id": c},
                    "updated_at": now,
                }
                for c in range(comments)
            ]
            with engine.begin() as conn:
                conn.execute(insert(db.comments), rows)
    return time.perf_counter() - started


def fresh_database(postgres: str | None, folder: Path) -> tuple[str, Engine]:
    if postgres is None:
        url = f"sqlite:///{folder / 'bench.sqlite3'}"
        return "SQLite", make_engine(url)
    name = f"incident_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(postgres).set(database=name).render_as_string(hide_password=False)
    return "PostgreSQL", make_engine(url)


def drop_database(postgres: str | None, engine: Engine) -> None:
    engine.dispose()
    if postgres is None:
        return
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{engine.url.database}" WITH (FORCE)'))
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communities", type=int, default=50)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--comments", type=int, default=50)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="admin URL, e.g. postgresql+psycopg://postgres@127.0.0.1/postgres",
    )
    args = parser.parse_args()
    n, p, c = args.communities, args.posts, args.comments
    with FakeVk() as fake, tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        total = build_world(fake, n, p, c)
        print(
            f"workload: {n} communities x {p} posts x {c} comments = {total} comments "
            f"(built in {time.perf_counter() - t0:.1f}s)"
        )
        kind, engine = fresh_database(args.postgres, Path(tmp))
        try:
            migrate.upgrade(engine)
            # what `incident run` does: working-hours deadlines, the shipped rules, answer times
            settings = SlaSettings()
            ingestion = Ingestion(
                deadline=working_hours_policy(settings),
                classify=rule_classifier(load_ruleset(RULES)),
                figures=answer_figures(settings),
            )
            srcs = sources(fake, n, p)
            fake_calls_before = len(fake.calls)
            stored, calls, seconds = sweep_all(engine, srcs, ingestion)
            served = len(fake.calls) - fake_calls_before
            idle_stored, idle_calls, idle_seconds = sweep_all(engine, srcs, ingestion)
            base_seconds = baseline(engine, n, p, c)
            with engine.connect() as conn:
                incidents = conn.execute(select(func.count()).select_from(db.incidents)).scalar()
            for s in srcs:
                s.close()
        finally:
            drop_database(args.postgres, engine)
    minimal_first = n * (1 + p * max(1, math.ceil(c / 100)))
    minimal_idle = n
    rate = stored / seconds
    base_rate = total / base_seconds
    print(f"database: {kind}")
    print(
        f"first sweep: {stored} comments stored, {incidents} incidents, in {seconds:.2f}s "
        f"= {rate:,.0f} comments/s"
    )
    print(
        f"first sweep API calls: {calls} (fake server counted {served}); "
        f"minimal for this workload: {minimal_first}; ratio {calls / minimal_first:.2f}"
    )
    print(
        f"idle sweep: {idle_stored} stored, {idle_calls} API calls in {idle_seconds:.2f}s; "
        f"minimal: {minimal_idle}; ratio {idle_calls / minimal_idle:.2f}"
    )
    print(
        f"baseline (bare executemany of the same rows, no HTTP, no incidents): "
        f"{base_rate:,.0f} rows/s; pipeline / baseline = {rate / base_rate:.2f}"
    )
    print(f"calls per community per sweep: first {calls / n:.1f}, idle {idle_calls / n:.1f}")
    return 0 if stored == total and idle_stored == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
