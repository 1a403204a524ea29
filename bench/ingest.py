"""Ingest benchmark: the real pipeline (client over HTTP -> fake VK/OK -> SQLite/PostgreSQL).

Platforms (``--platform vk|ok|all``, default all; each runs in its own fresh database):
- vk: vk_api over HTTP to FakeVk; COMMUNITIES x POSTS x COMMENTS, default 50 x 20 x 50 = 50,000;
- ok: our signed httpx client over HTTP to FakeOk; GROUPS x POSTS x COMMENTS, default
  20 x 20 x 125 = 50,000 (the same total as VK; 125 comments a post so that every post takes
  two discussions.getComments pages and the paging is measured too).
Comments are top-level and ingested as `incident run` does: classified with the shipped rules,
deadlines in working hours. Self-throttling is off (VK: vk_api's sleeps; OK: requests_per_second
unset), so the figures measure our code, not the politeness pauses.
Prints, for a first (catch-up) sweep and an idle sweep of every community/group:
- comments stored per second through the whole pipeline;
- API calls per sweep, counted by the source's client and by the fake server (per method), beside
  the minimal number for this workload and how it follows from the API's page sizes;
- the worker's repeat step after the first sweep (grouping near-duplicates, which ingest leaves
  to it): incidents compared per second;
- a baseline measured in the same run: the same rows written straight into the comments table
  with one executemany per post (the storage floor, no HTTP, no incidents), and the ratio.

Usage: python bench/ingest.py [--platform vk|ok|all] [--postgres URL]
                              [--communities N --posts P --comments C]  (both platforms)
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from incident import db, migrate, pipeline
from incident.db import make_engine
from incident.logs import configure_logging
from incident.pipeline import Ingestion
from incident.rules import load_ruleset
from incident.sla import SlaSettings
from incident.sources.base import Source
from incident.sources.fakes.ok_server import FakeOk
from incident.sources.fakes.vk_server import FakeVk
from incident.sources.ok import OkSource
from incident.sources.ok.source import PAGE_SIZE as OK_PAGE_SIZE
from incident.sources.vk import RetryPolicy, VkSource
from incident.wiring import answer_figures, rule_classifier, working_hours_policy

RULES = Path(__file__).resolve().parents[1] / "rules"
VK_FIRST_GID = 100_001
VK_PAGE_SIZE = 100  # wall.getComments count maximum
OK_FIRST_GID = 53_038_939_046_008
OK_APP_KEY = "CBAJKLMNEBABABABA"
OK_APP_SECRET = "0F1E2D3C4B5A69788796A5B4"
OK_TOKEN = "bench-administrator-token"
OK_ADMIN = "571000000001"
FAST_RETRY = RetryPolicy(attempts=3, initial=0.01, maximum=0.1)


@dataclass(frozen=True)
class Workload:
    groups: int
    posts: int
    comments: int

    @property
    def total(self) -> int:
        return self.groups * self.posts * self.comments


DEFAULTS = {"vk": Workload(50, 20, 50), "ok": Workload(20, 20, 125)}


@dataclass
class Rig:
    """One platform's fake, populated, and the sources that read it."""

    sources: Sequence[Source]
    calls: Callable[[], list[str]]  # the method name of every request the fake received
    minimal_first: int
    minimal_idle: int
    derivation: tuple[str, ...]  # how the minimal counts follow from the API's paging
    throttle: str  # how self-throttling was switched off


# -- VK -------------------------------------------------------------------------------------------


@contextmanager
def vk_rig(w: Workload) -> Iterator[Rig]:
    with FakeVk() as fake:
        rng = random.Random(1)
        fake.add_token("service", "service")
        for uid in range(1, 51):
            fake.add_user(uid, f"Имя{uid}", f"Фамилия{uid}")
        for g in range(w.groups):
            gid = VK_FIRST_GID + g
            fake.add_group(gid, f"Комитет {g}")
            fake.add_token(f"community-{gid}", "community", gid)
            for p in range(w.posts):
                post = fake.add_post(gid, f"Пост {p}")
                for c in range(w.comments):
                    fake.add_comment(
                        gid,
                        post,
                        rng.randint(1, 50),
                        f"Комментарий {g}-{p}-{c}: вопрос про возврат",
                    )
        srcs = [
            VkSource(
                name=f"vk-{VK_FIRST_GID + g}",
                group_id=VK_FIRST_GID + g,
                community_token=f"community-{VK_FIRST_GID + g}",
                sweep_token="service",
                session_factory=fake.session,
                posts_per_sweep=w.posts,
                throttle=False,
                retry=FAST_RETRY,
            )
            for g in range(w.groups)
        ]
        pages = max(1, math.ceil(w.comments / VK_PAGE_SIZE))
        try:
            yield Rig(
                sources=srcs,
                calls=lambda: [name for name, _ in fake.calls],
                minimal_first=w.groups * (1 + w.posts * pages),
                minimal_idle=w.groups,
                derivation=(
                    f"{w.groups} x (1 wall.get [posts with comment counts, {w.posts} <= 100] "
                    f"+ {w.posts} posts x ceil({w.comments}/{VK_PAGE_SIZE}) = {pages} "
                    "wall.getComments)",
                    f"{w.groups} x 1 wall.get (no count moved, no wall.getComments)",
                ),
                throttle="off (VkSource throttle=False: no vk_api sleeps)",
            )
        finally:
            for s in srcs:
                s.close()


# -- OK -------------------------------------------------------------------------------------------


@contextmanager
def ok_rig(w: Workload) -> Iterator[Rig]:
    fake = FakeOk(application_key=OK_APP_KEY, application_secret_key=OK_APP_SECRET)
    rng = random.Random(1)
    fake.add_token(OK_TOKEN, OK_ADMIN)
    users = [str(910_000_000_000 + u) for u in range(1, 51)]
    for u, user in enumerate(users, 1):
        fake.add_user(user, f"Имя{u} Фамилия{u}")
    for g in range(w.groups):
        gid = str(OK_FIRST_GID + g)
        fake.add_group(gid, f"Комитет {g}")
        for p in range(w.posts):
            post = fake.add_post(gid, f"Пост {p}")
            for c in range(w.comments):
                body = f"Комментарий {g}-{p}-{c}: вопрос про возврат"
                fake.add_comment(post, rng.choice(users), body)
    with fake:
        srcs = [
            OkSource(
                name=f"ok-{OK_FIRST_GID + g}",
                group_id=OK_FIRST_GID + g,
                application_key=OK_APP_KEY,
                application_secret_key=OK_APP_SECRET,
                access_token=OK_TOKEN,
                base_url=fake.url,
                posts_per_sweep=w.posts,
                retry=FAST_RETRY,
                requests_per_second=None,
            )
            for g in range(w.groups)
        ]
        pages = math.ceil(w.comments / OK_PAGE_SIZE)
        try:
            yield Rig(
                sources=srcs,
                calls=lambda: [name for name, _ in fake.calls],
                minimal_first=w.groups * (2 + w.posts * pages),
                minimal_idle=w.groups * 2,
                derivation=(
                    f"{w.groups} x (1 stream.get [count={w.posts} <= 100: one page, ids only] "
                    f"+ 1 mediatopic.getByIds [{w.posts} ids <= 100: the comment counts] "
                    f"+ {w.posts} posts x ceil({w.comments}/{OK_PAGE_SIZE}) = {pages} "
                    "discussions.getComments)",
                    f"{w.groups} x (1 stream.get + 1 mediatopic.getByIds) "
                    "(no count moved, no discussions.getComments)",
                ),
                throttle="off (OkSource requests_per_second=None; production default 2/s)",
            )
        finally:
            for s in srcs:
                s.close()
    if fake.protocol_errors:
        raise SystemExit(f"OK: the source broke OK's rules: {fake.protocol_errors}")


RIGS: dict[str, Callable[[Workload], AbstractContextManager[Rig]]] = {"vk": vk_rig, "ok": ok_rig}
UNITS = {"vk": ("communities", "community"), "ok": ("groups", "group")}


# -- the run --------------------------------------------------------------------------------------


def sweep_all(
    engine: Engine, srcs: Sequence[Source], ingestion: Ingestion
) -> tuple[int, int, float]:
    stored = calls = 0
    started = time.perf_counter()
    for s in srcs:
        outcome = pipeline.sweep_once(engine, s, lambda: datetime.now(UTC), ingestion)
        if outcome.error is not None:
            raise SystemExit(f"{s.name}: {outcome.error}")
        stored += outcome.result.stored
        calls += outcome.api_calls
    return stored, calls, time.perf_counter() - started


def baseline(engine: Engine, platform: str, w: Workload) -> float:
    """The same number of rows, written with one executemany per post: the storage floor."""
    now = datetime.now(UTC)
    started = time.perf_counter()
    for g in range(w.groups):
        for p in range(w.posts):
            rows = [
                {
                    "platform": platform,
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
                for c in range(w.comments)
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


def by_method(names: list[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(Counter(names).items()))


def run(platform: str, w: Workload, postgres: str | None) -> bool:
    unit, one = UNITS[platform]
    print(f"== {platform.upper()} ==")
    t0 = time.perf_counter()
    with RIGS[platform](w) as rig, tempfile.TemporaryDirectory() as tmp:
        print(
            f"workload: {w.groups} {unit} x {w.posts} posts x {w.comments} comments = "
            f"{w.total} comments (built in {time.perf_counter() - t0:.1f}s); "
            f"self-throttling {rig.throttle}"
        )
        kind, engine = fresh_database(postgres, Path(tmp))
        try:
            migrate.upgrade(engine)
            # what `incident run` does: working-hours deadlines, the shipped rules, answer times
            settings = SlaSettings()
            ingestion = Ingestion(
                deadline=working_hours_policy(settings),
                classify=rule_classifier(load_ruleset(RULES)),
                figures=answer_figures(settings),
            )
            before = len(rig.calls())
            stored, calls, seconds = sweep_all(engine, rig.sources, ingestion)
            first_names = rig.calls()[before:]
            # the worker's repeat step, which groups what the sweep opened (not in its figure)
            t1 = time.perf_counter()
            compared = pipeline.link_repeats_once(engine)
            repeat_seconds = time.perf_counter() - t1
            with engine.connect() as conn:
                grouped = conn.execute(
                    select(func.count()).where(db.incidents.c.repeat_of.is_not(None))
                ).scalar()
            before = len(rig.calls())
            idle_stored, idle_calls, idle_seconds = sweep_all(engine, rig.sources, ingestion)
            idle_names = rig.calls()[before:]
            base_seconds = baseline(engine, platform, w)
            with engine.connect() as conn:
                incidents = conn.execute(select(func.count()).select_from(db.incidents)).scalar()
        finally:
            drop_database(postgres, engine)
    rate = stored / seconds
    base_rate = w.total / base_seconds
    first_min, idle_min = rig.minimal_first, rig.minimal_idle
    print(f"database: {kind}")
    print(
        f"first sweep: {stored} comments stored, {incidents} incidents, in {seconds:.2f}s "
        f"= {rate:,.0f} comments/s"
    )
    print(
        f"repeat step after it: {compared} incidents compared, {grouped} grouped, in "
        f"{repeat_seconds:.2f}s = {compared / max(repeat_seconds, 1e-9):,.0f} incidents/s"
    )
    print(
        f"first sweep API calls: {calls} (fake server counted {len(first_names)}: "
        f"{by_method(first_names)}); minimal for this workload: {first_min}; "
        f"ratio {calls / first_min:.2f}"
    )
    print(f"  minimal first = {rig.derivation[0]} = {first_min}")
    print(
        f"idle sweep: {idle_stored} stored, {idle_calls} API calls (fake server counted "
        f"{len(idle_names)}) in {idle_seconds:.2f}s; minimal: {idle_min}; "
        f"ratio {idle_calls / idle_min:.2f}"
    )
    print(f"  minimal idle = {rig.derivation[1]} = {idle_min}")
    print(
        f"baseline (bare executemany of the same rows, no HTTP, no incidents): "
        f"{base_rate:,.0f} rows/s; pipeline / baseline = {rate / base_rate:.2f}"
    )
    print(
        f"calls per {one} per sweep: first {calls / w.groups:.1f}, idle {idle_calls / w.groups:.1f}"
    )
    return (
        stored == w.total
        and idle_stored == 0
        and calls == len(first_names)
        and idle_calls == len(idle_names)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--platform", choices=["vk", "ok", "all"], default="all")
    parser.add_argument(
        "--communities", type=int, help="communities (VK) / groups (OK); default VK 50, OK 20"
    )
    parser.add_argument("--posts", type=int, help="posts per community; default 20")
    parser.add_argument("--comments", type=int, help="comments per post; default VK 50, OK 125")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="admin URL, e.g. postgresql+psycopg://postgres@127.0.0.1/postgres",
    )
    args = parser.parse_args()
    configure_logging(level="warning")  # not one "swept" line per source and sweep
    platforms = ["vk", "ok"] if args.platform == "all" else [args.platform]
    if "ok" in platforms and args.posts is not None and not 1 <= args.posts <= 100:
        parser.error("OK: --posts must be within 1..100 (posts_per_sweep, one stream.get page)")
    ok = True
    for platform in platforms:
        d = DEFAULTS[platform]
        w = Workload(
            args.communities if args.communities is not None else d.groups,
            args.posts if args.posts is not None else d.posts,
            args.comments if args.comments is not None else d.comments,
        )
        ok = run(platform, w, args.postgres) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
