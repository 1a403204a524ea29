"""Scheduling and signal handling only: every piece of work is a pipeline step.

Sweeps and the outbox sender run as APScheduler interval jobs; each long-poll listener runs in a
thread of its own that calls ``pipeline.listen_once`` in a loop. ``stop()`` returns within a few
seconds: steps check the stop flag between transactions, and a listener blocked in a long-poll
request holds nothing uncommitted, so it is abandoned safely.
"""

from __future__ import annotations

import random
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from incident import inbox, pipeline
from incident.config import WorkerConfig
from incident.logs import get_logger
from incident.pipeline import Clock, Ingestion, ReplyPolicy
from incident.sources.base import Source

LEASE_RETRY_SECONDS = 5.0  # how often a standby listener asks for a source's lease


def utc_now() -> datetime:
    """The wall clock, aware, in UTC: the one place the worker reads the time."""
    return datetime.now(UTC)


def default_worker_id() -> str:
    """A new id for this process: host name and a random suffix (leases and claims name it)."""
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


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
    ) -> None:
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
        # One worker at a time polls a source. The lease outlives the gap between two sweeps;
        # a listener renews it every round. If the holder dies, another worker takes over
        # when it expires (and its first sweep catches up).
        # ``sweep_intervals`` gives a source its own schedule (else ``config.sweep_interval``).
        self.sweep_intervals = {
            name: (sweep_intervals or {}).get(name, config.sweep_interval) for name in self.sources
        }
        self.lease_ttls = {
            name: timedelta(seconds=seconds + 120) for name, seconds in self.sweep_intervals.items()
        }
        self.stopping = threading.Event()
        self.stopped_sources: set[str] = set()
        self._scheduler = BackgroundScheduler(timezone=UTC)
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
        """Take or renew this worker's lease on polling ``name``; False if another holds it."""
        try:
            with self.engine.begin() as conn:
                return inbox.take_source_lease(
                    conn, name, self.worker_id, self.clock(), self.lease_ttls[name]
                )
        except Exception:
            self.log.exception("lease_failed", source=name)
            return False

    def sweep(self, name: str) -> None:
        """One catch-up sweep of source ``name`` if this worker holds (or takes) its lease."""
        if name in self.stopped_sources or self.stopping.is_set():
            return
        if not self.hold(name):
            return  # another worker polls this source
        outcome = pipeline.sweep_once(
            self.engine, self.sources[name], self.clock, self.ingestion, self.stopping.is_set
        )
        if outcome.stopped:
            self._stop_source(name)

    def drain_outbox(self) -> None:
        """Post queued replies one at a time until none is due (at most 100 per call)."""
        rng = random.Random()
        for _ in range(100):  # bounded: let the scheduler breathe between drains
            if self.stopping.is_set():
                return
            if not pipeline.send_one_reply(
                self.engine, self.sources, self.clock, self.reply_policy, rng
            ):
                return

    def warn(self) -> None:
        """Run the SLA warning step once; its errors are logged, never raised."""
        if self.warn_step is None or self.stopping.is_set():
            return
        try:
            self.warn_step(self.clock())
        except Exception:
            # Warnings must never take the worker down; the next run tries again.
            self.log.exception("warnings_failed")

    def _listen_loop(self, name: str) -> None:
        source = self.sources[name]
        failures = 0
        while not self.stopping.is_set() and name not in self.stopped_sources:
            if not self.hold(name):
                self.stopping.wait(LEASE_RETRY_SECONDS)  # another worker listens; stand by
                continue
            outcome = pipeline.listen_once(
                self.engine, source, self.clock, self.ingestion, self.stopping.is_set
            )
            if outcome.stopped:
                self._stop_source(name)
                return
            if outcome.error is None:
                failures = 0
                continue
            failures += 1
            pause = min(300.0, 2.0**failures) * random.uniform(0.5, 1.0)
            self.stopping.wait(pause)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule a sweep of every source now and then periodically, the outbox sender, the
        warning step, and start one listener thread per live source."""
        now = self.clock()
        for name in self.sources:
            self._scheduler.add_job(
                self.sweep,
                "interval",
                args=[name],
                id=f"sweep:{name}",
                seconds=self.sweep_intervals[name],
                next_run_time=now,  # catch up on whatever happened while we were down
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        self._scheduler.add_job(
            self.drain_outbox,
            "interval",
            id="outbox",
            seconds=self.config.outbox_interval,
            next_run_time=now,
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
                target=self._listen_loop, args=[name], name=f"listen:{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self.log.info("worker_started", sources=list(self.sources), listeners=self.listeners)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop within ``timeout`` seconds; calling it again does nothing."""
        if self.stopping.is_set() and not self._scheduler.running:
            return
        self.stopping.set()
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
        """Let another worker take our sources at once rather than after the lease expires."""
        try:
            with self.engine.begin() as conn:
                for name in self.sources:
                    inbox.release_source(conn, name, self.worker_id)
        except Exception:
            self.log.exception("lease_release_failed")

    def run_until_signal(self, extra_stop: Callable[[], bool] = lambda: False) -> None:
        """Start, wait for SIGTERM/SIGINT (or ``extra_stop``), then stop."""
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
        finally:
            self.stop()
            for s, h in previous.items():
                signal.signal(s, h)
