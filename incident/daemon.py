"""Scheduling and signal handling only: every piece of work is a pipeline step.

Sweeps run as APScheduler interval jobs; each long-poll listener runs in a thread of its own
that calls ``pipeline.listen_once`` in a loop and hands its batch to one committer thread
(``pipeline.GroupCommitter``: many listeners' rounds in one transaction); the reply sender, a
heartbeat that keeps this worker's source leases (all in one statement) and the repeat step
(new incidents grouped with the open ones they repeat, in bulk every few seconds) have threads
of their own. ``stop()`` returns within a few seconds: steps check the stop flag
between transactions, and a listener blocked in a long-poll request holds nothing uncommitted,
so it is abandoned safely.

Unattended for years: every loop survives any error of one round (a database outage, a bug)
and tries again; after a round failed on the database, the source is swept at once when the
database answers again, so edits and deletions made meanwhile are caught up. A part that
cannot go on (a listener thread or the scheduler gone) ends the process with an error, so the
service manager restarts it (``run_until_signal``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from dateutil.relativedelta import relativedelta
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from incident import inbox, memory, metrics, pipeline
from incident.config import WorkerConfig
from incident.logs import get_logger
from incident.pipeline import Clock, Ingestion, ReplyPolicy
from incident.sources.base import Source

LEASE_RETRY_SECONDS = 5.0  # how often a standby listener asks for a source's lease
LEASE_TTL_SECONDS = 30.0  # a source lease not renewed for this long is free to take
HEARTBEAT_SECONDS = 10.0  # how often the heartbeat renews (or takes) the leases
MEMORY_RELEASE_SECONDS = 60.0  # how often freed memory goes back to the system
# Sources are swept together once at start (to catch up); after that each keeps a phase of its
# own, drawn at random across its interval, so that hundreds of sources sweep one after another
# rather than all at the same moment every interval (bench/load.py: 200 sources sweeping within
# the same minute held live intake back for that minute, lag p95 from about 2 s to 14 s). Each
# sweep is also put off by up to this share of its interval, at random, each time.
SWEEP_JITTER = 0.1
REPEATS_SECONDS = 2.0  # how often new incidents are compared with the day's open ones
MODEL_REFRESH_SECONDS = 60.0  # how often the worker looks for another active learned model
DATABASE_RETRY_SECONDS = 5.0  # a round that failed on the database is tried again this soon
CURSOR_REFRESH_SECONDS = 60.0  # a live listener reads its cursors again at least this often


class WorkerDied(RuntimeError):
    """A part of the worker stopped for good; the process must exit so it is restarted."""


def utc_now() -> datetime:
    """The wall clock, aware, in UTC: the one place the worker reads the time."""
    return datetime.now(UTC)


def default_worker_id() -> str:
    """A new id for this process: host name, process id and a random suffix (leases and
    claims name it; ``dead_local_worker`` reads it back)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def dead_local_worker(
    owner: str,
    *,
    host: str | None = None,
    own_pid: int | None = None,
    alive: Callable[[int], bool] = _pid_alive,
) -> bool:
    """Whether ``owner`` (a worker id) is a worker of this host that is surely dead: its
    process is gone, or its process id is ours (a restarted container reuses pid 1) while its
    id is not. Another host's worker, or one whose process may live, is never called dead."""
    host = socket.gethostname() if host is None else host
    own_pid = os.getpid() if own_pid is None else own_pid
    match = re.fullmatch(re.escape(host) + r"-(\d+)-[0-9a-f]{8}(?:-s\d+)?", owner)
    if match is None:
        return False
    pid = int(match.group(1))
    return pid == own_pid or not alive(pid)


class Worker:
    """The background worker: scheduled sweeps, one live listener per source that has one,
    the outbox sender and the SLA warning step, each calling a run-once pipeline step.

    ``start`` schedules everything, ``stop`` ends it within a few seconds; one source's
    failure never stops the others, and a permanently failing source is stopped alone.
    """

    def __init__(
        self,
        engine: Engine,
        sources: Sequence[Source],
        config: WorkerConfig,
        ingestion: Ingestion,
        *,
        listeners: Sequence[str] = (),
        clock: Clock = utc_now,
        worker_id: str | None = None,
        warn_step: Callable[[datetime], int] | None = None,
        warn_interval: float = 60.0,
        sweep_intervals: Mapping[str, float] | None = None,
        lease_ttl: float = LEASE_TTL_SECONDS,
        heartbeat_interval: float = HEARTBEAT_SECONDS,
        retention_months: int = 0,
        train_step: Callable[[], str] | None = None,
        train_interval: float = 0.0,
        refresh_model: Callable[[], object] | None = None,
    ) -> None:
        """``config.full_sweep_interval``: how often each source is read completely (its
        recent posts), besides at start, on taking a source over and after lost events."""
        self.engine = engine
        self.sources = {s.name: s for s in sources}
        self.config = config
        self.ingestion = ingestion
        self.listeners = [name for name in listeners if name in self.sources]
        self.clock = clock
        self.reply_policy = ReplyPolicy(
            worker_id=worker_id or default_worker_id(),
            lease=timedelta(seconds=config.reply_lease),
            max_attempts=config.reply_attempts,
            figures=ingestion.figures,
        )
        self.warn_step = warn_step
        self.warn_interval = warn_interval
        # One worker at a time polls a source. Its lease is short and renewed by a heartbeat
        # thread of its own, whatever the sweeps and listeners are doing; if the holder dies,
        # another worker's heartbeat takes the source within LEASE_TTL + HEARTBEAT seconds
        # and sweeps it at once (its sweep catches up). A restarted worker frees the leases
        # its dead predecessor on this host left (``dead_local_worker``) and starts at once.
        # ``sweep_intervals`` gives a source its own schedule (else ``config.sweep_interval``).
        self.sweep_intervals = {
            name: (sweep_intervals or {}).get(name, config.sweep_interval) for name in self.sources
        }
        self.lease_ttl = timedelta(seconds=lease_ttl)
        self.retention_months = retention_months
        self.train_step = train_step  # retrains the learned model (a process of its own)
        self.train_interval = train_interval  # seconds between trainings (0: never)
        self.refresh_model = refresh_model  # picks up a model trained or rolled back elsewhere
        self.heartbeat_interval = heartbeat_interval
        self.stopping = threading.Event()
        self.stopped_sources: set[str] = set()
        self.held: set[str] = set()  # sources whose lease the last heartbeat or poll renewed
        # Sources whose next sweep must be full: every one at start (a gap before us), one
        # taken over, one whose round failed on the database; and each on a slow schedule.
        self.full_due: set[str] = set(self.sources)
        # Seconds from the catch-up sweep at start to each source's next sweep (its phase)
        self._phase: dict[str, float] = {}
        self.died: str | None = None  # why a part of the worker stopped for good
        self.started_at = clock()
        # How the periodic parts last went, for the heartbeat row (``incident health``):
        # part -> {"ok_at": iso, "error_at": iso, "error": text}
        self.parts: dict[str, dict[str, str]] = {}
        self._scheduler = BackgroundScheduler(timezone=UTC)
        # live listeners commit their rounds together (see ``pipeline.GroupCommitter``)
        self.committer = pipeline.GroupCommitter(engine, ingestion, clock)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.log = get_logger(worker=self.reply_policy.worker_id)

    # -- jobs ---------------------------------------------------------------------------------

    def _stop_source(self, name: str) -> None:
        with self._lock:
            self.stopped_sources.add(name)
        job = self._scheduler.get_job(f"sweep:{name}")
        if job is not None:
            job.remove()

    @property
    def worker_id(self) -> str:
        """This worker's id, as its leases and reply claims record it."""
        return self.reply_policy.worker_id

    def hold(self, name: str) -> bool:
        """Take or renew this worker's lease on polling ``name``; False if another holds it
        (or the database cannot say: then nobody polls it from here this round)."""
        try:
            with self.engine.begin() as conn:
                held = inbox.take_source_lease(
                    conn, name, self.worker_id, self.clock(), self.lease_ttl
                )
        except Exception as exc:
            if isinstance(exc, SQLAlchemyError):
                metrics.DATABASE_ERRORS.labels("lease").inc()
            self.log.exception("lease_failed", source=name)
            held = False
        with self._lock:
            (self.held.add if held else self.held.discard)(name)
        return held

    def heartbeat(self) -> list[str]:
        """Renew this worker's leases and take any source whose lease ran out (its holder died
        or lost the database), all in one statement; a source taken over is swept at once.
        Returns those taken. If the database cannot say, this worker holds nothing until it
        can (its listeners stand by and ask again)."""
        names = [n for n in self.sources if n not in self.stopped_sources]
        if self.stopping.is_set() or not names:
            return []
        try:
            with self.engine.begin() as conn:
                held = inbox.take_source_leases(
                    conn, names, self.worker_id, self.clock(), self.lease_ttl
                )
        except Exception as exc:
            if isinstance(exc, SQLAlchemyError):
                metrics.DATABASE_ERRORS.labels("lease").inc()
            self.log.exception("lease_failed", sources=len(names))
            held = set()
        with self._lock:
            taken = sorted(held - self.held)
            self.held = held
        for name in taken:
            self._need_full_sweep(name, 0.0)
        return taken

    def holds(self, name: str) -> bool:
        """Whether the last heartbeat (or ``hold``) left this worker holding ``name``'s lease:
        a live listener asks this each round instead of the database."""
        with self._lock:
            return name in self.held

    def sweep(self, name: str) -> None:
        """One catch-up sweep of source ``name`` if this worker holds (or takes) its lease.
        Never raises: a round that fails is logged, and one that failed on the database is
        tried again in ``DATABASE_RETRY_SECONDS`` rather than at the next scheduled sweep."""
        if name in self.stopped_sources or self.stopping.is_set():
            return
        with self._lock:
            full = name in self.full_due
            phase = self._phase.pop(name, None)
        retried = self._sweep_round(name, full)
        if phase is None:
            return
        if retried:  # the catch-up sweep is tried again soon: it keeps the phase
            with self._lock:
                self._phase[name] = phase
        else:
            # the catch-up sweep at start is done: the next one at the source's own phase
            # (moved once it is done: a short phase must not fire while this one still runs)
            self._sweep_again_in(name, phase)

    def _sweep_round(self, name: str, full: bool) -> bool:
        """``sweep``'s round; True if it failed on the database and is tried again soon."""
        try:
            if not self.hold(name):
                return False  # another worker polls this source
            outcome = pipeline.sweep_once(
                self.engine,
                self.sources[name],
                self.clock,
                self.ingestion,
                self.stopping.is_set,
                full=full,
            )
        except SQLAlchemyError:
            metrics.DATABASE_ERRORS.labels("sweep").inc()
            self.log.exception("sweep_failed_on_database", source=name)
            self._need_full_sweep(name, DATABASE_RETRY_SECONDS)
            return True
        except Exception:
            self.log.exception("sweep_failed", source=name)
            return False
        if outcome.database_failed:
            self._need_full_sweep(name, DATABASE_RETRY_SECONDS)
        elif full and outcome.error is None and outcome.swept:
            with self._lock:
                self.full_due.discard(name)
        if outcome.stopped:
            self._stop_source(name)
        return outcome.database_failed

    def _part_went(self, part: str, error: BaseException | None = None) -> None:
        now = self.clock().isoformat()
        with self._lock:
            state = self.parts.setdefault(part, {})
            if error is None:
                state["ok_at"] = now
            else:
                state["error_at"] = now
                state["error"] = f"{type(error).__name__}: {error}"[:500]

    def beat(self) -> None:
        """Record this worker's heartbeat and its parts' last outcomes (never raises)."""
        with self._lock:
            parts = {k: dict(v) for k, v in self.parts.items()}
        try:
            with self.engine.begin() as conn:
                inbox.record_worker_beat(
                    conn,
                    self.worker_id,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=self.started_at,
                    now=self.clock(),
                    parts=parts,
                )
        except Exception:
            self.log.exception("heartbeat_record_failed")

    def full_sweep(self, name: str) -> None:
        """Read ``name`` completely at its next sweep, which runs now (the slow schedule)."""
        self._need_full_sweep(name, 0.0)

    def _need_full_sweep(self, name: str, seconds: float) -> None:
        with self._lock:
            self.full_due.add(name)
        self._sweep_again_in(name, seconds)

    def _sweep_again_in(self, name: str, seconds: float) -> None:
        job = self._scheduler.get_job(f"sweep:{name}")
        if job is not None and not self.stopping.is_set():
            job.modify(next_run_time=self.clock() + timedelta(seconds=seconds))

    def sender_policies(self) -> list[ReplyPolicy]:
        """One reply policy per sender thread (``config.reply_senders``): the first claims as
        the worker itself, the others as ``<worker id>-s<n>``. Each sender resends only its own
        claims left unrecorded, and a dead worker's senders are freed with it."""
        first = self.reply_policy
        return [first] + [
            dataclasses.replace(first, worker_id=f"{first.worker_id}-s{n}")
            for n in range(1, self.config.reply_senders)
        ]

    def _is_own(self, owner: str) -> bool:
        """Whether ``owner`` is this worker or one of its reply senders."""
        return owner == self.worker_id or owner.startswith(f"{self.worker_id}-s")

    def drain_outbox(self, policy: ReplyPolicy) -> None:
        """Post queued replies one at a time until none is due (at most 100 per call), as the
        sender of ``policy``. Never raises: the next run tries again."""
        rng = random.Random()
        try:
            for _ in range(100):  # bounded: let the scheduler breathe between drains
                if self.stopping.is_set():
                    return
                if not pipeline.send_one_reply(self.engine, self.sources, self.clock, policy, rng):
                    self._part_went("outbox")
                    return
        except Exception as exc:
            if isinstance(exc, SQLAlchemyError):
                metrics.DATABASE_ERRORS.labels("outbox").inc()
            self.log.exception("outbox_failed")
            self._part_went("outbox", exc)

    def link_repeats(self) -> None:
        """Group the incidents opened since the last run with the open ones they repeat
        (``pipeline.link_repeats_once``). Never raises: the next run tries again, and the
        incidents wait on the pending list meanwhile."""
        if self.stopping.is_set():
            return
        try:
            pipeline.link_repeats_once(self.engine)
        except Exception as exc:
            if isinstance(exc, SQLAlchemyError):
                metrics.DATABASE_ERRORS.labels("repeats").inc()
            self.log.exception("repeats_failed")
            self._part_went("repeats", exc)
        else:
            self._part_went("repeats")

    def warn(self) -> None:
        """Run the SLA warning step once; its errors are logged, never raised."""
        if self.warn_step is None or self.stopping.is_set():
            return
        try:
            self.warn_step(self.clock())
        except Exception as exc:
            # Warnings must never take the worker down; the next run tries again.
            self.log.exception("warnings_failed")
            self._part_went("warnings", exc)
        else:
            self._part_went("warnings")

    def retain(self) -> None:
        """Remove the personal data the retention setting no longer allows (once a day);
        errors are logged, never raised."""
        if self.retention_months < 1 or self.stopping.is_set():
            return
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                removed = inbox.remove_personal_data(
                    conn, now - relativedelta(months=self.retention_months), now
                )
        except Exception as exc:
            self.log.exception("retention_failed")
            self._part_went("retention", exc)
            return
        self._part_went("retention")
        if removed:
            self.log.info("retention_removed", comments=removed, months=self.retention_months)

    def train(self) -> None:
        """Retrain the learned model if corrections or rules changed (its own process)."""
        if self.train_step is None or self.stopping.is_set():
            return
        try:
            said = self.train_step()
        except Exception as exc:
            self.log.exception("training_failed")
            self._part_went("training", exc)
            return
        self._part_went("training")
        self.log.info("training_done", result=said)

    def _listen_loop(self, name: str) -> None:
        """Listen to ``name`` until the worker stops or the source is stopped. A round that
        raises (the database away, a bug) is logged and tried again; once a round succeeds
        after a database failure, the source is swept at once to catch up.

        A round costs one transaction, shared with other listeners' rounds (the group
        committer): the lease is the heartbeat's business (renewed every HEARTBEAT_SECONDS,
        lasting LEASE_TTL_SECONDS), and the listener keeps its own cursors between rounds,
        reading them again after any failure, a catch-up sweep, or CURSOR_REFRESH_SECONDS."""
        source = self.sources[name]
        failures = 0
        catch_up = False
        cursors: dict[str, str] | None = None
        cursors_read_at = 0.0
        while not self.stopping.is_set() and name not in self.stopped_sources:
            try:
                if not self.holds(name) and not self.hold(name):
                    cursors = None
                    self.stopping.wait(LEASE_RETRY_SECONDS)  # another worker listens; stand by
                    continue
                if cursors is not None and time.monotonic() - cursors_read_at > (
                    CURSOR_REFRESH_SECONDS
                ):
                    cursors = None
                if cursors is None:
                    cursors_read_at = time.monotonic()
                outcome = pipeline.listen_once(
                    self.engine,
                    source,
                    self.clock,
                    self.ingestion,
                    self.stopping.is_set,
                    cursors=cursors,
                    committer=self.committer,
                )
                cursors = outcome.cursors
            except SQLAlchemyError:
                cursors = None
                metrics.DATABASE_ERRORS.labels("listen").inc()
                self.log.exception("listen_failed_on_database", source=name)
                catch_up = True
                failures += 1
                self.stopping.wait(min(DATABASE_RETRY_SECONDS, 0.5 * 2.0**failures))
                continue
            except Exception:
                cursors = None
                self.log.exception("listen_failed", source=name)
                failures += 1
                self.stopping.wait(min(60.0, 2.0**failures) * random.uniform(0.5, 1.0))
                continue
            if outcome.stopped:
                self._stop_source(name)
                return
            if outcome.database_failed:
                catch_up = True
                failures += 1
                self.stopping.wait(min(DATABASE_RETRY_SECONDS, 0.5 * 2.0**failures))
                continue
            if outcome.error is None:
                failures = 0
                if catch_up:
                    catch_up = False
                    self.log.info("catch_up_after_database_failure", source=name)
                    self._need_full_sweep(name, 0.0)
                continue
            failures += 1
            pause = min(300.0, 2.0**failures) * random.uniform(0.5, 1.0)
            self.stopping.wait(pause)

    def _outbox_loop(self, policy: ReplyPolicy) -> None:
        while not self.stopping.is_set():
            self.drain_outbox(policy)
            self.stopping.wait(self.config.outbox_interval)

    def _repeats_loop(self) -> None:
        while not self.stopping.is_set():
            self.link_repeats()
            self.stopping.wait(REPEATS_SECONDS)

    def _heartbeat_loop(self) -> None:
        self.beat()
        released = time.monotonic()
        while not self.stopping.wait(self.heartbeat_interval):
            try:
                self.heartbeat()
            except Exception:  # hold() logs its own; this is for the unforeseen
                self.log.exception("heartbeat_failed")
            self.beat()
            if time.monotonic() - released >= MEMORY_RELEASE_SECONDS:
                # the listeners' freed pages back to the system (``incident.memory``)
                released = time.monotonic()
                memory.release()

    def _guarded(self, name: str, body: Callable[[], None]) -> Callable[[], None]:
        """``body`` for a thread of its own: if it ever ends while the worker runs, the worker
        has lost a part and says so (``problem``)."""

        def run() -> None:
            try:
                body()
            except BaseException as exc:
                self.died = f"{name}: {type(exc).__name__}: {exc}"
                self.log.exception("worker_part_died", part=name)
                return
            if not self.stopping.is_set() and (
                not name.startswith("listen:") or name[7:] not in self.stopped_sources
            ):
                self.died = f"{name}: ended"

        return run

    def problem(self) -> str | None:
        """Why the worker cannot go on (a thread or the scheduler gone), or None."""
        if self.stopping.is_set():
            return None
        if self.died is not None:
            return self.died
        if not self._scheduler.running:
            return "the scheduler stopped"
        return None

    def _free_dead_predecessors(self) -> list[str]:
        """Free the source leases and reply claims left by dead workers of this host (a crash
        and restart); the sources they held, which ``start`` sweeps at once anyway."""
        freed: list[str] = []
        try:
            with self.engine.begin() as conn:
                for owner in sorted(inbox.lease_owners(conn) | inbox.reply_claim_owners(conn)):
                    if self._is_own(owner) or not dead_local_worker(owner):
                        continue
                    freed += inbox.release_owner(conn, owner)
                    inbox.expire_reply_claims(conn, owner, self.clock())
                    self.log.info("freed_dead_worker", owner=owner)
        except Exception:
            self.log.exception("free_dead_workers_failed")
        return freed

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule a sweep of every source now and then periodically, the outbox sender, the
        warning step, and start one listener thread per live source."""
        self._free_dead_predecessors()
        now = self.clock()
        phase = random.Random()
        for name in self.sources:
            interval = self.sweep_intervals[name]
            # the sweep after the catch-up comes at a moment of this source's own within the
            # interval (``sweep`` moves it there), and every interval after that
            with self._lock:
                self._phase[name] = phase.uniform(0.0, interval)
            self._scheduler.add_job(
                self.sweep,
                "interval",
                args=[name],
                id=f"sweep:{name}",
                seconds=interval,
                jitter=interval * SWEEP_JITTER,
                next_run_time=now,  # catch up on whatever happened while we were down
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
            full = self.config.full_sweep_interval
            self._scheduler.add_job(
                self.full_sweep,
                "interval",
                args=[name],
                id=f"full:{name}",
                seconds=full,
                jitter=full * SWEEP_JITTER,
                start_date=now + timedelta(seconds=phase.uniform(0.0, full)),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        if self.retention_months > 0:
            self._scheduler.add_job(
                self.retain,
                "interval",
                id="retention",
                hours=24,
                next_run_time=now + timedelta(minutes=1),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        if self.refresh_model is not None:
            self._scheduler.add_job(
                self.refresh_model,
                "interval",
                id="model",
                seconds=MODEL_REFRESH_SECONDS,
                next_run_time=now,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        if self.train_step is not None and self.train_interval > 0:
            self._scheduler.add_job(
                self.train,
                "interval",
                id="training",
                seconds=self.train_interval,
                next_run_time=now + timedelta(minutes=5),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        if self.warn_step is not None:
            self._scheduler.add_job(
                self.warn,
                "interval",
                id="warnings",
                seconds=self.warn_interval,
                next_run_time=now,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        self._scheduler.start()
        for name in self.listeners:
            thread = threading.Thread(
                target=self._guarded(f"listen:{name}", functools.partial(self._listen_loop, name)),
                name=f"listen:{name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        # The reply sender, the heartbeat, the repeat step and the committers are threads of
        # their own: never queued behind hundreds of sweeps in the scheduler's pool.
        parts: list[tuple[str, Callable[[], None]]] = [
            ("heartbeat", self._heartbeat_loop),
            ("repeats", self._repeats_loop),
        ]
        parts += [
            ("outbox" if n == 0 else f"outbox-{n}", functools.partial(self._outbox_loop, policy))
            for n, policy in enumerate(self.sender_policies())
        ]
        if self.listeners:
            parts += [(f"committer-{n}", self.committer.run) for n in range(self.committer.threads)]
        for part, body in parts:
            thread = threading.Thread(target=self._guarded(part, body), name=part, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.log.info("worker_started", sources=list(self.sources), listeners=self.listeners)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop within ``timeout`` seconds; calling it again does nothing."""
        if self.stopping.is_set() and not self._scheduler.running:
            return
        self.stopping.set()
        self.committer.stop()  # what it holds is committed first; listeners waiting get an error
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        for thread in self._threads:
            left = (deadline - datetime.now(UTC)).total_seconds()
            thread.join(max(0.0, left))
        abandoned = [t.name for t in self._threads if t.is_alive()]
        self._release_leases()
        self.log.info("worker_stopped", abandoned_listeners=abandoned)

    def _release_leases(self) -> None:
        """Let another worker take our sources at once rather than after the lease expires,
        and take our heartbeat away (a clean stop is not a dead worker)."""
        try:
            with self.engine.begin() as conn:
                for name in self.sources:
                    inbox.release_source(conn, name, self.worker_id)
                inbox.forget_worker(conn, self.worker_id)
        except Exception:
            self.log.exception("lease_release_failed")

    def run_until_signal(self, extra_stop: Callable[[], bool] = lambda: False) -> None:
        """Start, wait for SIGTERM/SIGINT (or ``extra_stop``), then stop. Raises
        ``WorkerDied`` (after stopping) when a part of the worker is gone for good, so the
        process exits with an error and its service manager restarts it."""
        received = threading.Event()

        def handler(signum: int, frame: FrameType | None) -> None:
            self.log.info("signal_received", signal=signal.Signals(signum).name)
            received.set()

        previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not received.wait(0.2):
                if extra_stop():
                    break
                problem = self.problem()
                if problem is not None:
                    self.log.error("worker_cannot_go_on", problem=problem)
                    raise WorkerDied(problem)
        finally:
            self.stop()
            for s, h in previous.items():
                signal.signal(s, h)
