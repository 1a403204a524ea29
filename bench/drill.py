"""Fault drills: real ``incident run`` processes against the fake VK while citizens write, edit,
delete and restore comments and staff queue replies; then the world is compared with the
database.

Scenarios (``--scenario``):

- ``crash``: the worker is killed with SIGKILL every few seconds and started again at once;
- ``two-workers``: two workers share the sources; the one holding the lease is killed (and
  started again as the standby) every few seconds;
- ``outage``: PostgreSQL refuses the worker's database for ``--outage`` seconds (PostgreSQL
  only); the worker keeps running;
- ``faults``: a fifth of the fake's answers are errors (rate limits, 5xx, lost long polls).

Each prints what was done, how fast polling resumed (a kill to the next request the platform
sees; a database's return to the first comment of the outage stored), how long the database
took to match the platform after the traffic stopped, and the verdict: comments lost, texts
stale, deleted flags wrong, comments stored twice, replies unsent and replies posted twice.

Usage: python bench/drill.py [--scenario crash|two-workers|outage|faults|all]
       [--db sqlite|postgres] [--seconds 120] [--outage 30] [--postgres URL]
Exit status 1 if anything was lost, stale, doubled or recovered slower than 60 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from incident import db, inbox, migrate
from incident.db import make_engine
from incident.models import IncidentStatus, OutboxStatus, ReplyKind
from incident.sources.fakes.vk_server import FakeVk

GROUPS = (301, 302, 303)
POSTS_PER_GROUP = 4
CITIZENS = range(5001, 5041)
COMMUNITY_TOKEN = "drill-community-{gid}"
SERVICE_TOKEN = "drill-service"
RECOVERY_TARGET = 60.0  # seconds
POLLING = frozenset({"wall.get", "wall.getComments", "groups.getLongPollServer", "longpoll"})
SETTLE_LIMIT = 180.0  # seconds to wait for the database to match the platform at the end

CONFIG = """\
[database]
url = "{url}"

[log]
level = "warning"
format = "json"

[worker]
sweep_interval_seconds = 30
full_sweep_interval_seconds = 60
outbox_interval_seconds = 0.5
retry_initial_seconds = 0.2
retry_maximum_seconds = 2.0

{sources}"""

SOURCE = """\
[[sources]]
name = "vk-{gid}"
platform = "vk"
group_id = {gid}
community_token_env = "DRILL_VK_{gid}_COMMUNITY"
sweep_token_env = "DRILL_VK_SWEEP"
longpoll_wait_seconds = 5
api_url = "{api_url}"
"""


@dataclass
class Tally:
    comments: int = 0
    replies_in_threads: int = 0
    edits: int = 0
    deletions: int = 0
    restores: int = 0
    replies_queued: int = 0
    kills: int = 0
    recoveries: list[float] = field(default_factory=list)


class Drill:
    """The fake VK, a database, worker processes, and the citizens and staff around them."""

    def __init__(self, url: str, folder: Path, seed: int = 1) -> None:
        self.url = url
        self.folder = folder
        self.rng = random.Random(seed)
        self.fake = FakeVk()
        self.fake.start()
        self.fake.add_token(SERVICE_TOKEN, "service")
        self.posts: dict[int, list[int]] = {}
        for gid in GROUPS:
            self.fake.add_group(gid, f"Комитет {gid}")
            self.fake.add_token(COMMUNITY_TOKEN.format(gid=gid), "community", gid)
            self.posts[gid] = [
                self.fake.add_post(gid, f"Пост {n} комитета") for n in range(POSTS_PER_GROUP)
            ]
        for uid in CITIZENS:
            self.fake.add_user(uid, "Житель", f"Номер{uid}")
        self.config = folder / "config.toml"
        sources = "\n".join(SOURCE.format(gid=g, api_url=self.fake.url) for g in GROUPS)
        self.config.write_text(CONFIG.format(url=url, sources=sources), encoding="utf-8")
        self.env = {
            **os.environ,
            "DRILL_VK_SWEEP": SERVICE_TOKEN,
            **{f"DRILL_VK_{g}_COMMUNITY": COMMUNITY_TOKEN.format(gid=g) for g in GROUPS},
        }
        self.engine = make_engine(url)
        migrate.upgrade(self.engine)
        self.workers: list[subprocess.Popen[bytes]] = []
        self.tally = Tally()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()
        self.ours: dict[int, list[int]] = {g: [] for g in GROUPS}  # citizens' comments
        self.verbose = False
        self.wrong: list[str] = []

    # -- processes ---------------------------------------------------------------------------

    def start_worker(self) -> subprocess.Popen[bytes]:
        with open(self.folder / f"worker-{len(self.workers)}.log", "ab") as log:
            proc = subprocess.Popen(  # the child keeps its own copy of the log's descriptor
                [sys.executable, "-m", "incident", "--config", str(self.config), "run"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.folder,
            )
        self.workers.append(proc)
        return proc

    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def kill(self, proc: subprocess.Popen[bytes]) -> float:
        """SIGKILL ``proc``; the moment it died (monotonic)."""
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.tally.kills += 1
        return time.monotonic()

    def next_request_after(
        self, moment: float, groups: tuple[int, ...] = GROUPS, limit: float = 120.0
    ) -> float | None:
        """Seconds from ``moment`` until every one of ``groups`` was polled again (a sweep's or
        the long poll's request about it; not a reply being posted): the slowest recovery."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            first: dict[int, float] = {}
            for t, method, gid in list(self.fake.requests):
                if t > moment and method in POLLING and gid in groups and gid not in first:
                    first[gid] = t
            if len(first) == len(groups):
                return max(first.values()) - moment
            time.sleep(0.05)
        return None

    def holder(self) -> tuple[int, tuple[int, ...]] | None:
        """The process id of the worker holding most source leases (read from its worker id)
        and the communities of the sources it holds."""
        with self.engine.connect() as conn:
            leases = conn.execute(select(db.source_leases.c.source, db.source_leases.c.owner)).all()
        owners = Counter(owner for _, owner in leases)
        for owner, _ in owners.most_common():
            with contextlib.suppress(ValueError, IndexError):
                pid = int(owner.rsplit("-", 2)[1])
                held = tuple(int(src.split("-")[1]) for src, o in leases if o == owner)
                return pid, held
        return None

    # -- the people around it ----------------------------------------------------------------

    def citizens(self, every: float = 0.15) -> None:
        rng = random.Random(self.rng.random())
        while not self.stop.wait(rng.uniform(0.3, 1.7) * every):
            gid = rng.choice(GROUPS)
            roll = rng.random()
            with self.lock:
                mine = list(self.ours[gid])
            try:
                if roll < 0.12 and mine:
                    self.fake.edit_comment(
                        gid, rng.choice(mine), f"Исправлено {uuid.uuid4().hex[:6]}"
                    )
                    self.tally.edits += 1
                elif roll < 0.18 and mine:
                    self.fake.delete_comment(gid, rng.choice(mine))
                    self.tally.deletions += 1
                elif roll < 0.21 and mine:
                    self.fake.restore_comment(gid, rng.choice(mine))
                    self.tally.restores += 1
                elif roll < 0.35 and mine:
                    parent = rng.choice(mine)
                    post = int(self.fake.comment(gid, parent)["post_id"])
                    cid = self.fake.add_comment(
                        gid, post, rng.choice(CITIZENS), "И у меня так же", reply_to_comment=parent
                    )
                    self.tally.replies_in_threads += 1
                    with self.lock:
                        self.ours[gid].append(cid)
                else:
                    text = f"Магазин не вернул деньги за товар, номер {uuid.uuid4().hex[:8]}"
                    cid = self.fake.add_comment(
                        gid, rng.choice(self.posts[gid]), rng.choice(CITIZENS), text
                    )
                    self.tally.comments += 1
                    with self.lock:
                        self.ours[gid].append(cid)
            except Exception:  # noqa: S112 - e.g. editing a deleted comment: VK refuses too
                continue

    def staff(self, every: float = 1.0) -> None:
        rng = random.Random(self.rng.random())
        while not self.stop.wait(rng.uniform(0.5, 1.5) * every):
            try:
                with self.engine.begin() as conn:
                    ids = list(
                        conn.execute(
                            select(db.incidents.c.id)
                            .where(db.incidents.c.status == IncidentStatus.OPEN.value)
                            .limit(50)
                        ).scalars()
                    )
                    if not ids:
                        continue
                    target = rng.choice(ids)
                    inbox.queue_reply(
                        conn,
                        target,
                        f"Здравствуйте! Ответ {uuid.uuid4().hex}",
                        "drill-staff",
                        datetime.now(UTC),
                        kind=ReplyKind.ANSWER,
                    )
                    self.tally.replies_queued += 1
            except Exception:  # noqa: S112 - the database may be away (outage drill)
                continue

    def start_traffic(self) -> None:
        self.threads = [
            threading.Thread(target=self.citizens, daemon=True),
            threading.Thread(target=self.staff, daemon=True),
        ]
        for t in self.threads:
            t.start()

    def stop_traffic(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    # -- the verdict -------------------------------------------------------------------------

    def compare(self) -> dict[str, int]:
        """What the database gets wrong about the platform now."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    db.comments.c.community,
                    db.comments.c.external_id,
                    db.comments.c.text,
                    db.comments.c.deleted,
                )
            ).all()
            outbox = conn.execute(select(db.outbox.c.status, db.outbox.c.text)).all()
        stored = Counter((r.community, r.external_id) for r in rows)
        by_key = {(r.community, r.external_id): r for r in rows}
        lost = stale = wrong_deleted = 0
        self.wrong: list[str] = []
        for gid in GROUPS:
            for c in self.fake.comments(gid):
                if c.get("from_id", 0) < 0:
                    continue  # the community's own replies: counted below
                key = (str(gid), str(c["id"]))
                row = by_key.get(key)
                if c.get("deleted"):
                    if row is not None and not row.deleted:
                        wrong_deleted += 1
                        self.wrong.append(f"{key}: deleted on the platform, not here")
                    continue
                if row is None:
                    lost += 1
                    self.wrong.append(f"{key}: not stored ({c['text'][:30]!r})")
                    continue
                if row.deleted:
                    wrong_deleted += 1
                    self.wrong.append(f"{key}: live on the platform, deleted here")
                if row.text != c["text"]:
                    stale += 1
                    self.wrong.append(f"{key}: {row.text[:30]!r} here, {c['text'][:30]!r} there")
        posted = Counter(c["text"] for c in self.fake.created)
        return {
            "lost": lost,
            "stale": stale,
            "deleted_wrong": wrong_deleted,
            "stored_twice": sum(n - 1 for n in stored.values() if n > 1),
            "replies_posted_twice": sum(n - 1 for n in posted.values() if n > 1),
            "replies_pending": sum(
                1
                for status, _ in outbox
                if status in (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)
            ),
            "replies_posted": sum(1 for s, _ in outbox if s == OutboxStatus.POSTED.value),
            "replies_failed": sum(1 for s, _ in outbox if s == OutboxStatus.FAILED.value),
        }

    def settle(self) -> tuple[float, dict[str, int]]:
        """Wait until the database matches the platform and the outbox is empty."""
        started = time.monotonic()
        first = True
        while True:
            found = self.compare()
            if first and self.verbose and self.wrong:
                print("  at the end of the traffic:", *self.wrong[:10], sep="\n    ")
            first = False
            clean = not (
                found["lost"]
                or found["stale"]
                or found["deleted_wrong"]
                or found["replies_pending"]
            )
            if clean or time.monotonic() - started > SETTLE_LIMIT:
                return time.monotonic() - started, found
            time.sleep(0.5)

    def close(self) -> None:
        self.stop.set()
        for w in self.workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in self.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.wait(20)
            if w.poll() is None:
                w.kill()
        self.engine.dispose()
        self.fake.stop()


# -- scenarios --------------------------------------------------------------------------------


def crash(drill: Drill, seconds: float) -> list[str]:
    worker = drill.start_worker()
    drill.start_traffic()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline - 8:
        time.sleep(drill.rng.uniform(3, 8))
        died = drill.kill(worker)
        worker = drill.start_worker()
        recovery = drill.next_request_after(died)
        drill.tally.recoveries.append(recovery if recovery is not None else float("inf"))
    return ["SIGKILL of the worker, restarted at once"]


def two_workers(drill: Drill, seconds: float) -> list[str]:
    drill.start_worker()
    time.sleep(1.0)
    drill.start_worker()
    drill.start_traffic()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline - 60:
        time.sleep(drill.rng.uniform(5, 10))
        found = drill.holder()
        if found is None:
            continue
        pid, held = found
        victims = [w for w in drill.live_workers() if w.pid == pid]
        if not victims:
            continue
        died = drill.kill(victims[0])
        recovery = drill.next_request_after(died, held)  # the other worker takes them over
        drill.tally.recoveries.append(recovery if recovery is not None else float("inf"))
        drill.start_worker()  # the killed one comes back as the standby
    return ["SIGKILL of the lease holder; the other worker takes over, the killed one restarts"]


def outage(drill: Drill, seconds: float, cut: float) -> list[str]:
    name = make_url(drill.url).database
    admin = create_engine(
        make_url(drill.url).set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    drill.start_worker()
    drill.start_traffic()
    time.sleep(max(5.0, (seconds - cut) / 2))
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
    time.sleep(1.0)
    during = drill.fake.add_comment(
        GROUPS[0], drill.posts[GROUPS[0]][0], CITIZENS[0], "Написано, пока базы не было"
    )
    time.sleep(max(0.0, cut - 1.0))
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
    back = time.monotonic()
    resumed = None
    while time.monotonic() - back < 120:
        with contextlib.suppress(Exception), drill.engine.connect() as conn:
            found = conn.execute(
                select(db.comments.c.id).where(db.comments.c.external_id == str(during))
            ).first()
            if found is not None:
                resumed = time.monotonic() - back
                break
        time.sleep(0.2)
    drill.tally.recoveries.append(resumed if resumed is not None else float("inf"))
    time.sleep(max(0.0, (seconds - cut) / 2))
    alive = len(drill.live_workers())
    admin.dispose()
    return [
        f"PostgreSQL refused the database for {cut:.0f} s; worker processes alive after: {alive}"
    ]


def faults(drill: Drill, seconds: float) -> list[str]:
    drill.start_worker()
    drill.start_traffic()
    deadline = time.monotonic() + seconds
    injected = 0
    while time.monotonic() < deadline:
        time.sleep(0.25)
        roll = drill.rng.random()
        if roll < 0.3:
            drill.fake.fail_next("*", drill.rng.choice((6, 10)))  # too many requests, internal
        elif roll < 0.5:
            drill.fake.http_error_next("*", drill.rng.choice((500, 502, 503)))
        elif roll < 0.55:
            drill.fake.longpoll_fail_next(drill.rng.choice((1, 2, 3)))
        else:
            continue
        injected += 1
    return [f"{injected} faults injected (VK errors 6 and 10, HTTP 5xx, long poll failed=1/2/3)"]


# -- running ----------------------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, pg_url: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'drill.sqlite3'}"
        return
    name = f"incident_drill_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(
    scenario: str, kind: str, seconds: float, cut: float, pg_url: str, verbose: bool = False
) -> dict[str, Any]:
    with database(kind, pg_url) as url, tempfile.TemporaryDirectory() as tmp:
        drill = Drill(url, Path(tmp))
        drill.verbose = verbose
        try:
            started = time.monotonic()
            if scenario == "crash":
                what = crash(drill, seconds)
            elif scenario == "two-workers":
                what = two_workers(drill, seconds)
            elif scenario == "outage":
                what = outage(drill, seconds, cut)
            else:
                what = faults(drill, seconds)
            drill.stop_traffic()
            ran = time.monotonic() - started
            if not drill.live_workers():
                drill.start_worker()
            settled, found = drill.settle()
        finally:
            drill.close()
    return {"what": what, "ran": ran, "settled": settled, "found": found, "tally": drill.tally}


def report(scenario: str, kind: str, result: dict[str, Any]) -> bool:
    t: Tally = result["tally"]
    f: dict[str, int] = result["found"]
    print(f"{scenario} ({kind}), {result['ran']:.0f} s: {'; '.join(result['what'])}")
    print(
        f"  traffic: {t.comments} comments, {t.replies_in_threads} thread replies, "
        f"{t.edits} edits, {t.deletions} deletions, {t.restores} restores, "
        f"{t.replies_queued} replies queued; {t.kills} SIGKILLs"
    )
    ok = True
    if t.recoveries:
        finite = [r for r in t.recoveries if r != float("inf")]
        label = (
            "intake resumed after the database returned"
            if scenario == "outage"
            else "polling resumed after a SIGKILL"
        )
        worst = max(t.recoveries)
        print(
            f"  {label}: median {statistics.median(finite) if finite else float('nan'):.1f} s, "
            f"max {worst:.1f} s (of {len(t.recoveries)}; target < {RECOVERY_TARGET:.0f} s)"
        )
        ok = ok and worst < RECOVERY_TARGET
    print(
        f"  the database matched the platform {result['settled']:.1f} s after the traffic stopped"
    )
    print(
        f"  lost {f['lost']}, stale texts {f['stale']}, deleted flag wrong {f['deleted_wrong']}, "
        f"stored twice {f['stored_twice']}; replies posted {f['replies_posted']}, "
        f"failed (refused by VK) {f['replies_failed']}, unsent {f['replies_pending']}, "
        f"posted twice {f['replies_posted_twice']}"
    )
    bad = f["lost"] + f["stale"] + f["deleted_wrong"] + f["stored_twice"]
    bad += f["replies_posted_twice"] + f["replies_pending"]
    return ok and bad == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario", choices=("crash", "two-workers", "outage", "faults", "all"), default="all"
    )
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--outage", type=float, default=30.0, help="seconds without PostgreSQL")
    parser.add_argument("--verbose", action="store_true", help="show what is wrong, and when")
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    scenarios = (
        ["crash", "two-workers", "faults", *(["outage"] if args.db == "postgres" else [])]
        if args.scenario == "all"
        else [args.scenario]
    )
    if "outage" in scenarios and args.db != "postgres":
        parser.error("the outage drill needs --db postgres")
    ok = True
    for scenario in scenarios:
        result = run(scenario, args.db, args.seconds, args.outage, args.postgres, args.verbose)
        ok = report(scenario, args.db, result) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
