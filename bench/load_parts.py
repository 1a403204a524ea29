"""The parts of bench/load.py: the fake VK's process and its publisher, the processes and the
database (RSS, CPU, the prefilled database, the config and the credentials), and the probes
(the simulated staff, the lag probe, the RSS sampler)."""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import stats as prefill  # bench/stats.py: its set-based generator of a year of incidents
from sqlalchemy import Engine, create_engine, func, or_, select, text
from sqlalchemy.engine import make_url

from incident import db, users
from incident.db import make_engine
from incident.sources.fakes.demo_data import random_comment
from incident.sources.fakes.vk_server import FakeVk

ROOT = Path(__file__).resolve().parents[1]
FIRST_GID = 300_001
POSTS = 10  # posts per community; the comments spread over them
AUTHORS = 5000  # citizens on the fake VK
SWEEP_TOKEN = "load-service-token"
PASSWORD = "load staff password"
REPLY = "Здравствуйте! Спасибо, что написали. Разберёмся и ответим здесь же."
PROBE_EVERY = 0.05  # seconds between two polls of the lag probe


def community_token(gid: int) -> str:
    return f"load-community-{gid}"


def source_name(g: int) -> str:
    return f"vk-load-{g + 1:03d}"


# -- the platform: the fake VK in a process of its own ---------------------------------------


def platform_main(pipe: Connection, communities: int, seed: int) -> None:
    """Serve the fake VK; publish comments when asked. Runs in a child process, so that its 200
    long-poll threads compete with the bench's clients for the CPU but not for a GIL."""
    rng = random.Random(seed)
    with FakeVk() as fake:
        fake.add_token(SWEEP_TOKEN, "service")
        for uid in range(1, AUTHORS + 1):
            fake.add_user(uid, f"Имя{uid}", f"Фамилия{uid}")
        posts: dict[int, list[int]] = {}
        day = int(time.time()) - 86_400
        for g in range(communities):
            gid = FIRST_GID + g
            fake.add_group(gid, f"Комитет {g + 1}")
            fake.add_token(community_token(gid), "community", gid)
            posts[gid] = [fake.add_post(gid, f"Новость {p + 1}", date=day) for p in range(POSTS)]
        pipe.send(fake.url)
        while True:
            command, *args = pipe.recv()
            if command == "calls":
                pipe.send(Counter(name for name, _ in fake.calls))
            elif command == "errors":
                pipe.send(list(fake.schema_errors))
            elif command == "publish":
                per_second, seconds = args
                pipe.send(_publish(fake, posts, rng, per_second, seconds))
            else:
                return


def _publish(
    fake: FakeVk, posts: dict[int, list[int]], rng: random.Random, per_second: float, seconds: float
) -> dict[str, Any]:
    """Poisson arrivals at ``per_second`` for ``seconds``. Each comment's publication time is
    ``time.monotonic()`` (system-wide on Linux) taken just before ``add_comment``, which makes
    it visible to long polls: the lag is overstated by the call's duration, never understated."""
    groups = sorted(posts)
    log: list[tuple[str, str, float]] = []
    behind: list[float] = []
    start = time.monotonic()
    due = start + rng.expovariate(per_second)
    while due < start + seconds:
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        gid = rng.choice(groups)
        published = time.monotonic()
        cid = fake.add_comment(
            gid,
            rng.choice(posts[gid]),
            rng.randint(1, AUTHORS),
            random_comment(rng),
            date=int(time.time()),
        )
        log.append((str(gid), str(cid), published))
        behind.append(published - due)
        due += rng.expovariate(per_second)
    time.sleep(max(0.0, start + seconds - time.monotonic()))  # the phase lasts its seconds
    return {"log": log, "behind": behind, "seconds": time.monotonic() - start, "start": start}


# -- processes and the database ---------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(found[1]) / 1024 if found else None


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_marks(engine: Engine, pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each process, and of each PostgreSQL backend serving this
    database (``pg:<pid>``; the pools keep their connections, so most live all run long)."""
    marks = {name: cpu_seconds(pid) for name, pid in pids.items()}
    with engine.connect() as conn:
        backends = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        marks.update({f"pg:{pid}": cpu_seconds(pid) for pid in backends})
    return marks


def cpu_used(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Share of one core each process used between two marks; ``PostgreSQL``: the backends'
    sum (one that started between the marks counts whole, one that ended is missed)."""
    used = {k: (after[k] - before[k]) / seconds for k in after if not k.startswith("pg:")}
    used["PostgreSQL"] = (
        sum(
            after[k] - before.get(k, 0.0)
            for k in after
            if k.startswith("pg:") and after[k] == after[k]
        )
        / seconds
    )
    return used


@contextmanager
def database(admin_url: str, keep: bool = False) -> Iterator[str]:
    """A new database for one run, dropped at the end unless ``keep`` (then its name is
    printed, for a look at its plans and statistics afterwards)."""
    name = f"incident_load_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"database kept: {name}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fill(engine: Engine, rows: int, staff: int) -> str:
    """The year of incidents of bench/stats.py, the sequences moved past its explicit ids (it
    writes ids 1..n), statistics, and the staff accounts."""
    took = prefill.generate(
        engine,
        prefill.PG_GENERATE,
        {
            "n": rows,
            "communities": prefill.COMMUNITIES,
            "start": prefill.YEAR_START,
            "topics": prefill.TOPICS,
        },
    )
    started = time.perf_counter()
    with engine.begin() as conn:
        for table in ("comments", "incidents", "outbox"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"  # (a constant)
                )
            )
        now = datetime.now(UTC)
        for n in range(1, staff + 1):
            users.add_user(conn, f"staff{n:02d}", PASSWORD, users.Role.STAFF, now)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    return f"{took:.0f} s (+ accounts and VACUUM ANALYZE {time.perf_counter() - started:.0f} s)"


def write_config(folder: Path, url: str, api_url: str, communities: int) -> Path:
    tables = "".join(
        f'\n[[sources]]\nname = "{source_name(g)}"\nplatform = "vk"\ngroup_id = {FIRST_GID + g}\n'
        f'api_url = "{api_url}"\ndisplay_name = "Комитет {g + 1}"\n'
        for g in range(communities)
    )
    path = folder / "config.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n\n[log]\nlevel = "warning"\nformat = "json"\n\n'
        f"[paths]\nrules = {str(ROOT / 'rules')!r}\nreplies = {str(ROOT / 'replies')!r}\n" + tables,
        encoding="utf-8",
    )
    return path


def write_credentials(folder: Path, communities: int) -> Path:
    """The tokens as systemd's LoadCredential= hands them over (README, "Secrets"): one file
    per default variable name in $CREDENTIALS_DIRECTORY. Not 400 environment variables:
    requests scans the whole environment for proxy settings on every request."""
    target = folder / "credentials"
    target.mkdir(mode=0o700)
    for g in range(communities):
        prefix = "INCIDENT_" + source_name(g).upper().replace("-", "_")
        (target / f"{prefix}_COMMUNITY_TOKEN").write_text(community_token(FIRST_GID + g))
        (target / f"{prefix}_SWEEP_TOKEN").write_text(SWEEP_TOKEN)
    return target


def start(folder: Path, config: Path, name: str, args: list[str], env: dict[str, str]) -> Any:
    environ = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    log = (folder / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "incident", "--config", str(config), *args],
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the probes -------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str = "setup"


@dataclass
class Request:
    phase: str
    kind: str
    ms: float
    status: int
    at: float = 0.0  # time.monotonic() when it was sent


@dataclass
class Staff:
    """A member of staff working the queue through the JSON API (see the module docstring)."""

    number: int
    url: str
    pages: list[str]  # the source names of the pages they look after
    think: float
    phase: Phase
    stop: threading.Event
    records: list[Request] = field(default_factory=list)
    replies: Counter[int] = field(default_factory=Counter)
    error: str | None = None
    logged_in: bool = False

    def run(self) -> None:
        try:
            self._work()
        except Exception as exc:  # the run fails with the reason, not silently
            self.error = f"staff{self.number:02d}: {type(exc).__name__}: {exc}"

    def _work(self) -> None:
        rng = random.Random(self.number)
        with httpx.Client(base_url=self.url, timeout=60) as client:
            page = client.get("/login")
            token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
            assert token is not None, "no CSRF token on /login"
            done = client.post(
                "/login",
                data={
                    "username": f"staff{self.number:02d}",
                    "password": PASSWORD,
                    "csrf_token": token[1],
                    "next": "/queue",
                },
            )
            me = client.get("/api/me")
            if done.status_code != 303 or me.status_code != 200:
                raise RuntimeError(f"could not log in: {done.status_code}, {me.status_code}")
            csrf = me.json()["csrf_token"]
            self.logged_in = True
            while not self.stop.is_set():
                queue = self._get(client, "queue", "/api/incidents")
                self._pause(rng)
                page_name = rng.choice(self.pages)
                mine = self._get(client, "page", f"/api/incidents?community={page_name}")
                items = mine.get("items") or queue.get("items") or []
                self._pause(rng)
                if not items:
                    continue
                first = next((i for i in items if i["claimed_by"] is None), items[0])
                card = self._get(client, "card", f"/api/incidents/{first['id']}")
                self._pause(rng)
                ours = card.get("community", "0").isdigit() and int(card["community"]) >= FIRST_GID
                if ours and not card.get("replies") and rng.random() < 0.5:
                    send = partial(
                        client.post,
                        f"/api/incidents/{first['id']}/reply",
                        json={"text": REPLY, "kind": "answer"},
                        headers={"X-CSRF-Token": csrf},
                    )
                    self._call("reply", send)
                    self._pause(rng)

    def _pause(self, rng: random.Random) -> None:
        self.stop.wait(rng.uniform(0.5, 1.5) * self.think)

    def _get(self, client: httpx.Client, kind: str, path: str) -> dict[str, Any]:
        response = self._call(kind, lambda: client.get(path))
        return response.json() if response.status_code == 200 else {}

    def _call(self, kind: str, send: Callable[[], httpx.Response]) -> httpx.Response:
        phase = self.phase.name
        at, started = time.monotonic(), time.perf_counter()
        response = send()
        ms = (time.perf_counter() - started) * 1000
        self.records.append(Request(phase, kind, ms, response.status_code, at))
        if kind == "reply":
            self.replies[response.status_code] += 1
        return response


class LagProbe:
    """Polls the database every PROBE_EVERY seconds for incidents it has not seen and records
    when each first showed up. An incident first seen by the poll that started at t was
    committed after the previous poll's start and before t (PostgreSQL's snapshot is taken at
    the statement's start), so the lag it records is at most one poll period too long."""

    def __init__(self, url: str, stop: threading.Event) -> None:
        self.engine = make_engine(url)
        self.stop = stop
        self.seen: dict[tuple[str, str], float] = {}
        self.periods: list[float] = []
        self.last = 0
        self.holes: dict[int, float] = {}  # ids below the highest seen, not seen yet (yet open)
        self.error: str | None = None

    def run(self) -> None:
        i, c = db.incidents.c, db.comments.c
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            self.last = int(conn.execute(select(func.coalesce(func.max(i.id), 0))).scalar_one())
            previous = time.monotonic()
            while not self.stop.wait(PROBE_EVERY):
                started = time.monotonic()
                try:
                    rows = conn.execute(
                        select(i.id, c.community, c.external_id)
                        .join(db.comments, c.id == i.comment_id)
                        .where(or_(i.id > self.last, i.id.in_(list(self.holes))))
                    ).all()
                except Exception as exc:  # a probe that stops must say why
                    self.error = f"{type(exc).__name__}: {exc}"
                    return
                self.periods.append(started - previous)
                previous = started
                top = self.last
                for row in rows:
                    self.seen.setdefault((row.community, row.external_id), started)
                    self.holes.pop(row.id, None)
                    top = max(top, row.id)
                found = {row.id for row in rows}
                for missing in range(self.last + 1, top):
                    if missing not in found:
                        self.holes[missing] = started
                self.last = top
                for hole, since in list(self.holes.items()):
                    if started - since > 120:  # a rolled-back id: it never comes
                        del self.holes[hole]


@dataclass
class Sample:
    phase: str
    at: float  # time.monotonic()
    worker: float | None
    web: float | None


def sample_rss(
    pids: dict[str, int], phase: Phase, stop: threading.Event, out: list[Sample]
) -> None:
    while not stop.wait(1.0):
        out.append(
            Sample(phase.name, time.monotonic(), rss_mb(pids["worker"]), rss_mb(pids["web"]))
        )
