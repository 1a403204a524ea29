"""Web app benchmark: queue-page and card-page latency with 100,000 incidents.

For SQLite and for PostgreSQL: fills a fresh database with INCIDENTS incidents (their comments,
"opened" audit events, a reply for each answered one; a third open, the rest answered or closed;
authors with several incidents each, threads under shared posts), serves the real app with
uvicorn on 127.0.0.1 and times REQUESTS sequential GETs over one keep-alive connection:

- queue: GET /queue (open incidents, oldest deadline first, the first page of 50);
- card:  GET /incidents/<random id> (which also claims the incident: a write per request);
- search (for information): GET /queue?q=<word>;
- health (the baseline): GET /health, the same server and connection with no database work;
  each page's median is printed as a ratio to it.

Prints the median and the 95th percentile per page and database; target p95 < 100 ms.

Usage: python bench/web.py [--incidents 100000] [--requests 200] [--postgres URL | --no-postgres]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url

from incident import db, migrate, users
from incident.db import make_engine
from incident.web import WebSettings, create_app
from incident.web.serve import BackgroundServer
from incident.web.suggestions import load_suggestions

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench password 1"
PHRASES = [
    "Магазин отказался вернуть деньги за бракованный утюг, что делать?",
    "Управляющая компания не вывозит мусор уже неделю",
    "Банк навязал страховку при оформлении кредита",
    "Такси взяло больше, чем показало приложение",
    "В подъезде нет отопления третий день",
    "Оператор связи списывает деньги за подписку, которую я не оформлял",
    "Спасибо за помощь, претензию приняли!",
    "Туроператор отменил поездку и не возвращает деньги",
]


def fill(engine: Engine, count: int, now: datetime) -> None:
    rng = random.Random(7)
    chunk = 5000
    authors = max(1, count // 5)
    posts = max(1, count // 50)
    with engine.begin() as conn:
        users.add_user(conn, "bench", PASSWORD, users.Role.STAFF, now)
    for start in range(0, count, chunk):
        comments, incidents, audits, outbox = [], [], [], []
        for n in range(start, min(count, start + chunk)):
            cid = n + 1
            created = now - timedelta(minutes=count - n)
            author = rng.randrange(authors)
            post = rng.randrange(posts)
            root = str(cid - 1) if n % 4 == 3 else None
            comments.append(
                {
                    "id": cid,
                    "platform": "vk",
                    "community": "217000001",
                    "post_id": str(post),
                    "external_id": str(cid),
                    "author_id": str(author),
                    "author_name": f"Автор {author}",
                    "text": f"{rng.choice(PHRASES)} (№{cid})",
                    "created_at": created,
                    "seen_at": created,
                    "from_community": False,
                    "reply_to_id": root,
                    "thread_root_id": root,
                    "deleted": False,
                    "edits": [],
                    "raw": {},
                    "updated_at": created,
                }
            )
            roll = rng.random()
            status = "open" if roll < 0.34 else ("answered" if roll < 0.9 else "closed")
            incidents.append(
                {
                    "id": cid,
                    "comment_id": cid,
                    "platform": "vk",
                    "community": "217000001",
                    "source": "vk-bench",
                    "status": status,
                    "topic": rng.choice(["trade", "housing", "finance", "transport", None]),
                    "verdict": None,
                    "ruleset_version": None,
                    "opened_at": created,
                    "due_at": created + timedelta(hours=8),
                    "first_response_at": created + timedelta(hours=1)
                    if status == "answered"
                    else None,
                    "first_response_by": "bench" if status == "answered" else None,
                    "closed_reason": "spam" if status == "closed" else None,
                    "created_at": created,
                    "updated_at": created,
                }
            )
            audits.append(
                {
                    "at": created,
                    "actor": "worker",
                    "incident_id": cid,
                    "action": "opened",
                    "details": {"source": "vk-bench"},
                }
            )
            if status == "answered":
                outbox.append(
                    {
                        "incident_id": cid,
                        "source": "vk-bench",
                        "text": "Здравствуйте! Разберёмся.",
                        "status": "posted",
                        "created_by": "bench",
                        "created_at": created,
                        "attempts": 1,
                        "next_attempt_at": created,
                        "posted_external_id": f"a{cid}",
                        "posted_url": f"https://vk.com/wall-217000001_{post}?reply={cid}",
                        "posted_at": created,
                        "updated_at": created,
                    }
                )
        with engine.begin() as conn:
            conn.execute(insert(db.comments), comments)
            conn.execute(insert(db.incidents), incidents)
            conn.execute(insert(db.audit_events), audits)
            if outbox:
                conn.execute(insert(db.outbox), outbox)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for table in ("comments", "incidents", "audit_events", "outbox"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                        f"(SELECT max(id) FROM {table}))"  # (table: one of four constants)
                    )
                )
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))


def timed(call: Callable[[], httpx.Response], n: int) -> list[float]:
    call()  # warm-up
    out = []
    for _ in range(n):
        start = time.perf_counter()
        response = call()
        out.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"unexpected {response.status_code} from {response.url}")
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def measure(
    engine: Engine, label: str, count: int, requests: int
) -> list[tuple[str, float, float]]:
    now = datetime.now(UTC)
    started = time.perf_counter()
    fill(engine, count, now)
    print(f"{label}: {count:,} incidents written in {time.perf_counter() - started:.1f} s")
    settings = WebSettings(
        secret="bench-" + "s" * 40,
        secure_cookies=False,
        suggestions=load_suggestions(ROOT / "rules", ROOT / "replies"),
    )
    app = create_app(engine, settings)
    rng = random.Random(3)
    results = []
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert token is not None
        client.post(
            "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token[1]}
        )
        if "Очередь" not in client.get("/queue").text:
            raise SystemExit("login failed")
        for name, call in (
            ("health", lambda: client.get("/health")),  # baseline: the framework, no database
            ("queue", lambda: client.get("/queue")),
            ("card", lambda: client.get(f"/incidents/{rng.randint(1, count)}")),
            ("search", lambda: client.get("/queue", params={"q": "отопления"})),
        ):
            values = timed(call, requests)
            results.append((name, statistics.median(values), p95(values)))
    return results


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    name = f"incident_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_on(url: str, label: str, args: Any) -> list[tuple[str, float, float]]:
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        return measure(engine, label, args.incidents, args.requests)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    table: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        for name, median, high in run_on(f"sqlite:///{folder}/bench.sqlite3", "sqlite", args):
            table.append(("sqlite", name, median, high))
    if not args.no_postgres:
        with postgres_database(args.postgres) as url:
            for name, median, high in run_on(url, "postgresql", args):
                table.append(("postgresql", name, median, high))
    print(f"\n{args.requests} requests each, {args.incidents:,} incidents; target p95 < 100 ms")
    print(f"{'database':<12}{'page':<8}{'median ms':>10}{'p95 ms':>10}{'x health':>10}")
    failed = False
    floor = {db: median for db, name, median, _ in table if name == "health"}
    for database, name, median, high in table:
        flag = "" if name in ("search", "health") or high < 100 else "  OVER TARGET"
        failed = failed or bool(flag)
        ratio = median / floor[database] if floor.get(database) else float("nan")
        print(f"{database:<12}{name:<8}{median:>10.1f}{high:>10.1f}{ratio:>10.1f}{flag}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
