"""Load benchmark: the worker and the web app under a steady stream of new comments.

The whole system as it runs in production, on PostgreSQL already holding PREFILL incidents
(bench/stats.py's year of generated incidents):

- the platform: the project's fake VK (a real HTTP server, Bots Long Poll included) in a process
  of its own, with COMMUNITIES communities; new top-level comments are published on it at RATE
  a minute (Poisson arrivals, random community, post and author) for MINUTES minutes;
- the worker: a real ``incident run`` process with one ``[[sources]]`` table per community in a
  generated config.toml (production defaults: vk_api's throttling on, sweeps every 10 minutes);
  the comments reach it live through the fake's Bots Long Poll;
- the web app: a real ``incident web`` process; STAFF simulated staff (threads here, one HTTP
  client each, logged in through /login) work the queue through the JSON API in a loop: list
  the whole queue, list one of their own pages' queue, open a card, and now and then queue a
  reply (which the worker posts to the fake VK, whose answer comes back as the community's
  comment), with THINK seconds (mean) between requests.

Measured, first for one idle minute (the same staff, no comment load: only a trickle of one
comment every 3 s, so that the lag has an idle figure too), then under load:
- ingest lag: publication on the fake platform -> the incident visible in the queue (a probe
  polls the database; see its resolution in the output);
- web latency of every staff request (median, p95, by request kind);
- worker and web RSS (/proc/<pid>/status VmRSS, each second: peak and end), and the CPU of
  every part (worker, web, PostgreSQL's backends of this database, the fake VK, this process):
  on one machine they all share its cores.
Prints the figures beside the idle baseline with their ratios and the targets (lag p95 < 1 s,
web p95 < 50 ms, worker RSS < 200 MB). Exit 0 whatever the figures; 1 if the run itself failed
(a process died, the worker never got ready, the publisher failed).

Usage: python bench/load.py [--minutes 10] [--rate 5000] [--communities 200] [--staff 20]
       [--prefill 1000000] [--baseline 60] [--think 1.0] [--drain 60] [--postgres URL]
       [--logs DIR]   (keep the worker's and the web app's logs and the config)
Smoke (about 2.5 minutes): python bench/load.py --minutes 1 --rate 600 --communities 20
       --prefill 20000
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from load_parts import (
    LagProbe,
    Phase,
    Sample,
    Staff,
    cpu_marks,
    cpu_used,
    database,
    fill,
    free_port,
    platform_main,
    sample_rss,
    source_name,
    start,
    write_config,
    write_credentials,
)
from sqlalchemy import Engine, func, select

from incident import db, migrate
from incident.db import make_engine

TRICKLE_EVERY = 3.0  # seconds between comments in the idle minute
TARGET_LAG_P95, TARGET_WEB_P95, TARGET_WORKER_RSS = 1000.0, 50.0, 200.0  # ms, ms, MB

# -- figures ----------------------------------------------------------------------------------


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def ratio(load: float, base: float) -> str:
    return f"{load / base:.2f}x" if base and base == base and load == load else "-"


def verdict(value: float, target: float) -> str:
    return "OK" if value == value and value < target else "MISSED"


def lags(log: list[tuple[str, str, float]], seen: dict[tuple[str, str], float]) -> list[float]:
    return [(seen[(g, c)] - t) * 1000 for g, c, t in log if (g, c) in seen]


# -- the run ----------------------------------------------------------------------------------


class RunFailed(Exception):
    pass


def wait_ready(engine: Engine, pipe: Connection, worker: Any, n: int, timeout: float) -> float:
    """Until every source has been swept and listens (or the worker dies)."""
    started = time.monotonic()
    s = db.source_status.c
    while time.monotonic() - started < timeout:
        if worker.poll() is not None:
            raise RunFailed(f"the worker exited with {worker.returncode} before it was ready")
        with engine.connect() as conn:
            swept = conn.execute(
                select(func.count()).where(s.last_sweep_at.is_not(None), s.state == "ok")
            ).scalar_one()
        pipe.send(("calls",))
        polls = pipe.recv()["groups.getLongPollServer"]
        if swept >= n and polls >= n:
            return time.monotonic() - started
        time.sleep(1.0)
    raise RunFailed(f"the worker was not ready after {timeout:.0f} s")


def publish(pipe: Connection, per_second: float, seconds: float, alive: Callable[[], None]) -> Any:
    pipe.send(("publish", per_second, seconds))
    while not pipe.poll(1.0):
        alive()
    return pipe.recv()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=5000.0, help="new comments a minute")
    parser.add_argument("--communities", type=int, default=200)
    parser.add_argument("--staff", type=int, default=20)
    parser.add_argument("--prefill", type=int, default=1_000_000, help="incidents already stored")
    parser.add_argument("--baseline", type=float, default=60.0, help="idle seconds before load")
    parser.add_argument("--think", type=float, default=1.0, help="staff's mean pause, seconds")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for stragglers")
    parser.add_argument("--logs", metavar="DIR", help="keep the processes' logs in DIR")
    parser.add_argument(
        "--keep-database", action="store_true", help="do not drop the run's database at the end"
    )
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    if args.staff > args.communities:
        parser.error("--staff must not exceed --communities (each looks after some pages)")
    try:
        return run(args)
    except RunFailed as exc:
        print(f"RUN FAILED: {exc}")
        return 1


def run(args: argparse.Namespace) -> int:
    print(
        f"== load: {args.rate:,.0f} new comments/min over {args.communities} communities for "
        f"{args.minutes:g} min, {args.staff} staff (mean pause {args.think:g} s), PostgreSQL "
        f"with {args.prefill:,} incidents; {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at start =="
    )
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    platform = context.Process(target=platform_main, args=(theirs, args.communities, 11))
    platform.start()
    processes: dict[str, Any] = {}
    stop_staff, stop_probe = threading.Event(), threading.Event()
    phase = Phase()
    with database(args.postgres, args.keep_database) as url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = make_engine(url)
        probe = LagProbe(url, stop_probe)
        staff: list[Staff] = []
        try:
            migrate.upgrade(engine)
            took = fill(engine, args.prefill, args.staff)
            print(f"prefill: {args.prefill:,} incidents in {took}")
            api_url = ours.recv()
            config = write_config(folder, url, api_url, args.communities)
            credentials = write_credentials(folder, args.communities)
            port = free_port()
            processes["worker"] = start(
                folder, config, "worker", ["run"], {"CREDENTIALS_DIRECTORY": str(credentials)}
            )
            processes["web"] = start(
                folder,
                config,
                "web",
                ["web", "--port", str(port), "--insecure-cookies"],
                {"INCIDENT_WEB_SECRET": "load-" + "s" * 40},
            )

            def alive() -> None:
                for name, p in processes.items():
                    if p.poll() is not None:
                        raise RunFailed(f"the {name} exited with {p.returncode}")
                if not platform.is_alive():
                    raise RunFailed("the fake VK's process died")
                for s in staff:
                    if s.error is not None:
                        raise RunFailed(s.error)

            ready = wait_ready(engine, ours, processes["worker"], args.communities, 600)
            web_url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    if httpx.get(f"{web_url}/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            alive()
            print(f"worker ready in {ready:.0f} s: every source swept once, every long poll on")
            pids = {name: p.pid for name, p in processes.items()}
            samples: list[Sample] = []
            each = args.communities // args.staff
            staff += [
                Staff(
                    n + 1,
                    web_url,
                    [source_name(g) for g in range(n * each, (n + 1) * each)],
                    args.think,
                    phase,
                    stop_staff,
                )
                for n in range(args.staff)
            ]
            threads = [threading.Thread(target=s.run, daemon=True) for s in staff]
            threads += [
                threading.Thread(target=probe.run, daemon=True),
                threading.Thread(
                    target=sample_rss, args=(pids, phase, stop_probe, samples), daemon=True
                ),
            ]
            for t in threads:
                t.start()
            started = time.monotonic()
            while not all(s.logged_in for s in staff):  # 20 argon2 checks take a while
                alive()
                if time.monotonic() - started > 120:
                    raise RunFailed("the staff could not log in within 120 s")
                time.sleep(0.2)
            time.sleep(max(5.0, args.think * 3))  # everyone working
            alive()

            def calls() -> Counter[str]:
                ours.send(("calls",))
                return ours.recv()  # type: ignore[no-any-return]

            cpu: dict[str, dict[str, float]] = {}
            watched = {**pids, "fake VK": platform.pid or 0, "staff+probe": os.getpid()}
            calls_before = calls()
            phase.name = "idle"
            marks = cpu_marks(engine, watched)
            idle = publish(ours, 1 / TRICKLE_EVERY, args.baseline, alive)
            cpu["idle"] = cpu_used(marks, cpu_marks(engine, watched), idle["seconds"])
            calls_idle = calls()
            phase.name = "load"
            marks = cpu_marks(engine, watched)
            load = publish(ours, args.rate / 60, args.minutes * 60, alive)
            cpu["load"] = cpu_used(marks, cpu_marks(engine, watched), load["seconds"])
            phase.name = "drain"
            stop_staff.set()
            calls_load = calls()
            wanted = {(g, c) for g, c, _ in load["log"]}
            drain_start = time.monotonic()
            while time.monotonic() - drain_start < args.drain and not wanted <= probe.seen.keys():
                alive()
                time.sleep(0.5)
            drained = time.monotonic() - drain_start
            stop_probe.set()
            for t in threads:
                t.join(70)
            alive()
            ours.send(("errors",))
            fake_errors = ours.recv()
            with engine.connect() as conn:
                posted = conn.execute(
                    select(func.count()).where(
                        db.outbox.c.status == "posted", db.outbox.c.source.like("vk-load-%")
                    )
                ).scalar_one()
        finally:
            stop_staff.set()
            stop_probe.set()
            for p in processes.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in processes.values():
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
            if platform.is_alive():
                ours.send(("stop",))
                platform.join(10)
            if platform.is_alive():
                platform.terminate()
            engine.dispose()
            probe.engine.dispose()
            if args.logs:  # the worker's and the web app's logs, and the config
                shutil.copytree(folder, args.logs, dirs_exist_ok=True)
        logs = {name: (folder / f"{name}.log").read_text(errors="replace") for name in processes}
    if probe.error is not None:
        raise RunFailed(f"the lag probe failed: {probe.error}")
    report(
        args,
        idle,
        load,
        probe,
        staff,
        samples,
        cpu,
        (calls_idle - calls_before, calls_load - calls_idle),
        posted,
        drained,
        logs,
    )
    if fake_errors:
        raise RunFailed(f"the fake VK recorded errors: {fake_errors[:3]}")
    return 0


def report(
    args: argparse.Namespace,
    idle: dict[str, Any],
    load: dict[str, Any],
    probe: LagProbe,
    staff: list[Staff],
    samples: list[Sample],
    cpu: dict[str, dict[str, float]],
    calls: tuple[Counter[str], Counter[str]],
    posted: int,
    drained: float,
    logs: dict[str, str],
) -> None:
    idle_lag, load_lag = lags(idle["log"], probe.seen), lags(load["log"], probe.seen)
    missing = len(load["log"]) - len(load_lag)
    records = [r for s in staff for r in s.records]
    web = {p: [r.ms for r in records if r.phase == p] for p in ("idle", "load")}
    errors = {p: sum(r.status >= 500 for r in records if r.phase == p) for p in ("idle", "load")}
    rss = {
        (p, k): [getattr(s, k) for s in samples if s.phase == p and getattr(s, k) is not None]
        for p in ("idle", "load")
        for k in ("worker", "web")
    }
    print(
        f"published: idle {len(idle['log'])} comments in {idle['seconds']:.0f} s (one every "
        f"{TRICKLE_EVERY:g} s); load {len(load['log']):,} in {load['seconds']:.0f} s = "
        f"{len(load['log']) / load['seconds'] * 60:,.0f}/min (publisher behind schedule: p95 "
        f"{pct(load['behind'], 95) * 1000:.1f} ms, max {max(load['behind'], default=0) * 1000:.0f}"
        f" ms)"
    )
    print(
        f"seen in the queue: {len(load_lag):,} of {len(load['log']):,} load comments "
        f"({missing} never seen; waited {drained:.1f} s after the load for stragglers)"
    )
    period = statistics.median(probe.periods) * 1000 if probe.periods else float("nan")
    print(
        f"lag = first poll that saw the incident - publication (monotonic clock); the probe "
        f"polled every {period:.0f} ms (median; p95 {pct(probe.periods, 95) * 1000:.0f} ms): a "
        "lag is overstated by at most one period, never understated"
    )
    last = max(0, int(load["seconds"] // 60) - 1) if load["seconds"] >= 60 else 0

    def minute_of(t: float) -> int:
        """The minute of load a monotonic time falls in (the last one takes the remainder)."""
        return min(last, max(0, int((t - load["start"]) // 60)))

    minutes: dict[int, list[float]] = defaultdict(list)
    for g, c, t in load["log"]:
        if (g, c) in probe.seen:
            minutes[minute_of(t)].append((probe.seen[(g, c)] - t) * 1000)
    print(
        "lag p50/p95 by minute of load, s: "
        + "  ".join(
            f"{pct(v, 50) / 1000:.2f}/{pct(v, 95) / 1000:.2f}" for _, v in sorted(minutes.items())
        )
    )
    web_minutes: dict[int, list[float]] = defaultdict(list)
    for r in records:
        if r.phase == "load":
            web_minutes[minute_of(r.at)].append(r.ms)
    print(
        "web p50/p95 by minute of load, ms: "
        + "  ".join(f"{pct(v, 50):.0f}/{pct(v, 95):.0f}" for _, v in sorted(web_minutes.items()))
    )
    by_minute: dict[int, float] = {}
    for x in samples:
        if x.phase == "load" and x.worker is not None:
            by_minute[minute_of(x.at)] = x.worker
    print(
        "worker RSS at the end of each minute of load, MB: "
        + " ".join(f"{m:.0f}" for _, m in sorted(by_minute.items()))
    )
    print(f"\n{'':<30}{'idle':>12}{'load':>12}{'load/idle':>11}   target")
    rows: list[tuple[str, float, float, str]] = [
        ("ingest lag p50, ms", pct(idle_lag, 50), pct(load_lag, 50), ""),
        ("ingest lag p95, ms", pct(idle_lag, 95), pct(load_lag, 95), "lag"),
        ("ingest lag max, ms", max(idle_lag, default=nan()), max(load_lag, default=nan()), ""),
        ("web p50, ms", pct(web["idle"], 50), pct(web["load"], 50), ""),
        ("web p95, ms", pct(web["idle"], 95), pct(web["load"], 95), "web"),
        ("worker RSS peak, MB", _max(rss["idle", "worker"]), _max(rss["load", "worker"]), "rss"),
        ("worker RSS end, MB", _last(rss["idle", "worker"]), _last(rss["load", "worker"]), ""),
        ("web RSS peak, MB", _max(rss["idle", "web"]), _max(rss["load", "web"]), ""),
        ("web RSS end, MB", _last(rss["idle", "web"]), _last(rss["load", "web"]), ""),
    ]
    rows += [
        (f"{name} CPU, % of a core", cpu["idle"][name] * 100, cpu["load"][name] * 100, "")
        for name in ("worker", "web", "PostgreSQL", "fake VK", "staff+probe")
    ]
    rows.append(
        (
            f"all, % of {os.cpu_count()} cores",
            sum(cpu["idle"].values()) * 100 / (os.cpu_count() or 1),
            sum(cpu["load"].values()) * 100 / (os.cpu_count() or 1),
            "",
        )
    )
    targets = {
        "lag": ("< 1000 ms", TARGET_LAG_P95),
        "web": ("< 50 ms", TARGET_WEB_P95),
        "rss": ("< 200 MB", TARGET_WORKER_RSS),
    }
    for label, base, value, target in rows:
        line = f"{label:<30}{base:>12.1f}{value:>12.1f}{ratio(value, base):>11}"
        if target:
            shown, limit = targets[target]
            line += f"   {shown}: {verdict(value, limit)}"
        print(line)
    logins = [x.web for x in samples if x.phase == "setup" and x.web is not None]
    print(
        f"web RSS while the {len(staff)} staff logged in at once (before the idle minute): peak "
        f"{_max(logins):.0f} MB (each login checks an argon2id hash: 64 MiB)"
    )
    print(
        f"\nweb requests: idle {len(web['idle']):,}, load {len(web['load']):,} "
        f"({errors['idle']} and {errors['load']} answered 5xx); by kind under load:"
    )
    for kind in ("queue", "page", "card", "reply"):
        values = [r.ms for r in records if r.phase == "load" and r.kind == kind]
        quiet = [r.ms for r in records if r.phase == "idle" and r.kind == kind]
        print(
            f"  {kind:<6} n={len(values):>6,}  median {pct(values, 50):7.1f} ms  p95 "
            f"{pct(values, 95):7.1f} ms  (idle p95 {pct(quiet, 95):.1f} ms)"
        )
    replies = sum((s.replies for s in staff), Counter[int]())
    print(
        f"replies queued by staff: {replies[200]:,} (refused 409: {replies[409]:,}); posted by "
        f"the worker by the end: {posted:,}"
    )
    for name, counted in zip(("idle", "load"), calls, strict=True):
        shown = ", ".join(f"{m} {n:,}" for m, n in sorted(counted.items()))
        print(f"fake VK API calls, {name}: {shown or 'none'} (long polls not counted)")
    for name, text_ in logs.items():
        events = Counter(re.findall(r'"event": ?"([^"]+)"', text_))
        levels = Counter(re.findall(r'"level": ?"(warning|error|critical)"', text_))
        if levels or events:
            top = ", ".join(f"{e} x{n}" for e, n in events.most_common(5))
            print(f"{name} log: {dict(levels)}; events: {top}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def nan() -> float:
    return float("nan")


def _max(values: list[float]) -> float:
    return max(values, default=nan())


def _last(values: list[float]) -> float:
    return values[-1] if values else nan()


if __name__ == "__main__":
    sys.exit(main())
