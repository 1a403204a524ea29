"""Run-once steps: each does one bounded piece of work and says whether it found any.

Tests and ``incident poll --once`` call these directly; the daemon only schedules them. A step
never lets one source's fault escape: it records the fault on the source's status and returns.
"""

from __future__ import annotations

import queue
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from incident import inbox, metrics
from incident.inbox import (
    Classifier,
    DeadlinePolicy,
    IngestResult,
    ResponseFigures,
    no_classification,
    no_figures,
)
from incident.logs import get_logger
from incident.models import Batch, OutgoingReply, SourceState
from incident.sources.base import (
    PermanentSourceError,
    ReplyRejectedError,
    Source,
    SourceError,
    TransientSourceError,
)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Ingestion:
    """How new comments become incidents: the deadline policy and the classifier; and what is
    stored when an incident gets its first answer."""

    deadline: DeadlinePolicy
    classify: Classifier = no_classification
    figures: ResponseFigures = no_figures


@dataclass(slots=True)
class StepOutcome:
    """What one sweep or listen step did: the ingest counts, API calls and batches, and the
    source's fault if there was one."""

    result: IngestResult = field(default_factory=IngestResult)
    api_calls: int = 0
    batches: int = 0
    error: SourceError | None = None
    swept: bool = False
    database_failed: bool = False  # the error came from our database, not the platform
    recorded: bool = False  # the success was recorded in the batch's own transaction
    # the source's cursors after a listen step that succeeded (the caller may hand them to the
    # next step instead of reading them again); None when they must be read from the database
    cursors: dict[str, str] | None = None

    @property
    def stopped(self) -> bool:
        """The source hit a permanent fault and must not be called again until fixed."""
        return isinstance(self.error, PermanentSourceError)

    @property
    def found_work(self) -> bool:
        """Whether the step stored or changed anything (the loop on top may go again at once)."""
        r = self.result
        return bool(r.stored or r.updated)


def _commit_batch(
    engine: Engine,
    source: Source,
    batch: Batch,
    now: datetime,
    ingestion: Ingestion,
    outcome: StepOutcome,
) -> None:
    with engine.begin() as conn:
        outcome.result.add(
            inbox.ingest(
                conn,
                source.name,
                batch,
                now,
                deadline=ingestion.deadline,
                classify=ingestion.classify,
                figures=ingestion.figures,
            )
        )
    outcome.api_calls += batch.api_calls
    outcome.batches += 1


def _record(engine: Engine, source: Source, clock: Clock, outcome: StepOutcome) -> None:
    log = get_logger(source=source.name)
    metrics.COMMENTS_INGESTED.labels(source.name).inc(outcome.result.stored)
    if outcome.error is not None:
        kind = (
            "database"
            if outcome.database_failed
            else "permanent"
            if outcome.stopped
            else "transient"
        )
        metrics.POLL_ERRORS.labels(source.name, kind).inc()
    if outcome.error is None and outcome.recorded:
        return
    with engine.begin() as conn:
        if outcome.error is None:
            inbox.record_source_success(
                conn,
                source.name,
                source.platform.value,
                clock(),
                api_calls=outcome.api_calls,
                swept=outcome.swept,
            )
            return
        state = SourceState.STOPPED if outcome.stopped else SourceState.DEGRADED
        inbox.record_source_error(
            conn, source.name, source.platform.value, clock(), state, str(outcome.error)
        )
    if outcome.stopped:
        log.error("source_stopped", reason=str(outcome.error))
    else:
        log.warning("source_degraded", reason=str(outcome.error))


def _guard(source: Source, outcome: StepOutcome, work: Callable[[], None]) -> None:
    try:
        work()
    except SourceError as exc:
        outcome.error = exc
    except SQLAlchemyError as exc:
        # Our database, not the platform: recorded on the source if the database answers
        # again in time; the caller retries soon and then catches up with a sweep.
        get_logger(source=source.name).exception("database_failed")
        outcome.database_failed = True
        outcome.error = TransientSourceError(f"база данных: {type(exc).__name__}")
    except Exception as exc:
        # A bug or an unforeseen fault in one source must not stop the others: record it as
        # transient (the next run retries) and keep the traceback in the log.
        get_logger(source=source.name).exception("source_crashed")
        outcome.error = TransientSourceError(f"unexpected {type(exc).__name__}: {exc}")


def sweep_once(
    engine: Engine,
    source: Source,
    clock: Clock,
    ingestion: Ingestion,
    should_stop: Callable[[], bool] = lambda: False,
    *,
    full: bool = False,
) -> StepOutcome:
    """Pull everything new from ``source`` since its stored cursors, one batch a transaction;
    with ``full``, re-read its recent posts completely (``Source.sweep``).

    Each batch is ingested with its cursors in its own transaction (``inbox.ingest``), so a
    crash loses at most the batch in flight, which the next sweep fetches again. Stops early,
    between batches, when ``should_stop()`` says so (the sweep is then not recorded as
    complete). Never raises for a source's fault: it is recorded on the source's status
    (``stopped`` if permanent, ``degraded`` otherwise) and returned in the outcome.
    """
    outcome = StepOutcome(swept=True)

    def work() -> None:
        with engine.connect() as conn:
            cursors = inbox.load_cursors(conn, source.name)
        for batch in source.sweep(cursors, full=full):
            _commit_batch(engine, source, batch, clock(), ingestion, outcome)
            if should_stop():
                outcome.swept = False  # abandoned midway: the rest comes next time
                return

    _guard(source, outcome, work)
    _record(engine, source, clock, outcome)
    r = outcome.result
    get_logger(source=source.name).info(
        "swept",
        full=full,
        stored=r.stored,
        incidents=r.incidents,
        answered=r.answered,
        duplicates=r.duplicates,
        api_calls=outcome.api_calls,
        error=str(outcome.error) if outcome.error else None,
    )
    return outcome


def _ingest_listened(
    conn: Connection, listened: Sequence[tuple[Source, Batch]], now: datetime, ingestion: Ingestion
) -> list[IngestResult]:
    """Listened batches and their sources' success, in the caller's transaction: one round of
    a live listener costs one transaction (the status row moves with the data), and a group of
    rounds costs about as many statements as one (``inbox.ingest_group``)."""
    results = inbox.ingest_group(
        conn,
        [(source.name, batch) for source, batch in listened],
        now,
        deadline=ingestion.deadline,
        classify=ingestion.classify,
        figures=ingestion.figures,
    )
    inbox.record_sources_success(
        conn,
        [(source.name, source.platform.value, batch.api_calls) for source, batch in listened],
        now,
        swept=False,
    )
    return results


class CommitterStopped(RuntimeError):
    """The worker is stopping: a batch handed to the committer was not committed (its cursors
    were not saved either, so the next start reads it again)."""


class GroupCommitter:
    """Commits the batches of many live listeners in shared transactions, on a few threads of
    its own.

    With hundreds of sources, a transaction per listener round meant hundreds of threads
    waiting for the connection pool (and a WAL flush per round on PostgreSQL). Here each
    listener hands its batch over and waits; a committer thread takes every batch waiting (up
    to ``max_group``) and commits them in one transaction. If that fails, each batch of the
    group is committed again in a transaction of its own, so a bad batch fails alone and only
    its listener sees the error. A listener's next round starts only after its batch is
    committed, so a source's batches stay in order and its cursors move with its data, as
    with a transaction of its own. ``threads`` groups are committed at once (each source's
    rows are its own, so they do not wait for each other).

    ``run`` is a thread's body (the daemon starts ``threads`` of them and guards them);
    ``stop`` ends them, failing whatever still waits.
    """

    def __init__(
        self,
        engine: Engine,
        ingestion: Ingestion,
        clock: Clock,
        *,
        max_group: int = 64,
        threads: int = 4,
    ) -> None:
        self.engine = engine
        self.ingestion = ingestion
        self.clock = clock
        self.max_group = max_group
        self.threads = threads
        self._queue: queue.SimpleQueue[tuple[Source, Batch, Future[IngestResult]] | None] = (
            queue.SimpleQueue()
        )
        self._stopped = threading.Event()

    def commit(self, source: Source, batch: Batch, timeout: float = 120.0) -> IngestResult:
        """Commit ``batch`` with ``source``'s success; blocks until it is committed. Raises
        what its commit raised (a ``SQLAlchemyError`` for the database), or ``TimeoutError``."""
        if self._stopped.is_set():
            raise CommitterStopped("the committer has stopped")
        done: Future[IngestResult] = Future()
        self._queue.put((source, batch, done))
        return done.result(timeout)

    def run(self) -> None:
        """Commit groups until ``stop``."""
        while True:
            first = self._queue.get()
            if first is None:
                break
            group = [first]
            last = False
            while len(group) < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    last = True
                    break
                group.append(item)
            self.commit_group(group)
            if last:
                break
        self._fail_waiting()

    def stop(self) -> None:
        self._stopped.set()
        for _ in range(self.threads):
            self._queue.put(None)

    def commit_group(self, group: list[tuple[Source, Batch, Future[IngestResult]]]) -> None:
        """``group`` in one transaction; if that fails, each batch in its own. Every future
        gets its result or its exception."""
        try:
            with self.engine.begin() as conn:
                results = _ingest_listened(
                    conn,
                    [(source, batch) for source, batch, _ in group],
                    self.clock(),
                    self.ingestion,
                )
        except Exception as exc:
            if len(group) == 1:
                group[0][2].set_exception(exc)
                return
            for source, batch, done in group:  # find the one that failed; the others go on
                try:
                    with self.engine.begin() as conn:
                        (result,) = _ingest_listened(
                            conn, [(source, batch)], self.clock(), self.ingestion
                        )
                except Exception as alone:
                    done.set_exception(alone)
                else:
                    done.set_result(result)
            return
        for (_, _, done), result in zip(group, results, strict=True):
            done.set_result(result)

    def _fail_waiting(self) -> None:
        """Fail the batches still waiting; the other threads' stop signals stay queued."""
        signals = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                signals += 1
            else:
                item[2].set_exception(CommitterStopped("the committer has stopped"))
        for _ in range(signals):
            self._queue.put(None)


def listen_once(
    engine: Engine,
    source: Source,
    clock: Clock,
    ingestion: Ingestion,
    should_stop: Callable[[], bool] = lambda: False,
    *,
    cursors: Mapping[str, str] | None = None,
    committer: GroupCommitter | None = None,
) -> StepOutcome:
    """Wait once for pushed events and ingest them as one batch; sweep too when the source
    says events may have been lost (and we are not stopping): a full one, since edits and
    deletions may have been lost with them. Faults are recorded on the
    source's status and returned, never raised, as in ``sweep_once``; the outcome sums the
    listen and the catch-up sweep.

    ``cursors``: the ones the previous step returned in ``outcome.cursors`` (a live listener is
    the only writer of its own cursors while it holds the source's lease), else they are read
    from the database. ``committer``: commit through a shared ``GroupCommitter`` rather than
    a transaction of this step's own."""
    outcome = StepOutcome()
    needs_sweep = False
    abandoned = False

    def work() -> None:
        nonlocal needs_sweep
        if cursors is None:
            with engine.connect() as conn:
                current = inbox.load_cursors(conn, source.name)
        else:
            current = dict(cursors)
        batch = source.listen_once(current)
        if committer is not None:
            try:
                result = committer.commit(source, batch)
            except CommitterStopped:
                nonlocal abandoned
                abandoned = True  # the worker is stopping: nothing to record, no fault
                return
        else:
            with engine.begin() as conn:
                (result,) = _ingest_listened(conn, [(source, batch)], clock(), ingestion)
        outcome.result.add(result)
        outcome.api_calls += batch.api_calls
        outcome.batches += 1
        outcome.recorded = True
        outcome.cursors = {**current, **batch.cursors}
        needs_sweep = batch.needs_sweep

    _guard(source, outcome, work)
    if abandoned:
        return outcome
    if outcome.error is not None or not needs_sweep or should_stop():
        _record(engine, source, clock, outcome)
        return outcome
    get_logger(source=source.name).info("catch_up_sweep", reason="events may have been missed")
    swept = sweep_once(engine, source, clock, ingestion, should_stop, full=True)
    swept.result.add(outcome.result)
    swept.api_calls += outcome.api_calls
    swept.batches += outcome.batches
    return swept


@dataclass(frozen=True, slots=True)
class ReplyPolicy:
    """How the reply sender works: its worker id, the lease on a claimed reply, the retry
    budget and backoff, and what is stored with a first answer."""

    worker_id: str
    lease: timedelta = timedelta(minutes=2)
    max_attempts: int = 8
    backoff_initial: timedelta = timedelta(seconds=5)
    backoff_maximum: timedelta = timedelta(minutes=15)
    figures: ResponseFigures = no_figures


def send_one_reply(
    engine: Engine,
    sources: Mapping[str, Source],
    clock: Clock,
    policy: ReplyPolicy,
    rng: random.Random | None = None,
) -> bool:
    """Claim one due reply, post it, record the result. False when there was nothing to send.

    If the worker dies after the platform accepted the reply but before it is recorded, the
    lease expires, another run claims the row again and resends it with the same idempotency
    key: the platform returns the comment it already created, and we record that.
    """
    with engine.begin() as conn:
        claim = inbox.claim_reply(conn, policy.worker_id, clock(), policy.lease, list(sources))
    if claim is None:
        return False
    log = get_logger(incident=claim.incident_id, outbox=claim.outbox_id, source=claim.source)
    source = sources[claim.source]
    reply = OutgoingReply(
        outbox_id=claim.outbox_id,
        idempotency_key=claim.idempotency_key,
        community=claim.community,
        post_id=claim.post_id,
        reply_to_id=claim.reply_to_id,
        text=claim.text,
    )
    try:
        posted = source.post_reply(reply)
    except ReplyRejectedError as exc:
        metrics.OUTBOX_FAILURES.labels("refused").inc()
        with engine.begin() as conn:
            inbox.mark_reply_failed(conn, claim, policy.worker_id, str(exc), clock())
        log.warning("reply_rejected", reason=str(exc))
        return True
    except SourceError as exc:
        metrics.OUTBOX_FAILURES.labels("transient").inc()
        now = clock()
        permanent = isinstance(exc, PermanentSourceError)
        with engine.begin() as conn:
            if claim.attempts >= policy.max_attempts:
                inbox.mark_reply_failed(
                    conn,
                    claim,
                    policy.worker_id,
                    f"gave up after {claim.attempts} tries: {exc}",
                    now,
                )
            else:
                delay = _backoff(claim.attempts, policy, rng or random.Random())
                if isinstance(exc, TransientSourceError) and exc.retry_after:
                    delay = max(delay, timedelta(seconds=exc.retry_after))
                inbox.reschedule_reply(conn, claim, policy.worker_id, str(exc), now + delay, now)
            if permanent:
                inbox.record_source_error(
                    conn, source.name, source.platform.value, now, SourceState.STOPPED, str(exc)
                )
        log.warning("reply_deferred", reason=str(exc), attempts=claim.attempts)
        return True
    with engine.begin() as conn:
        recorded = inbox.mark_posted(
            conn,
            claim,
            policy.worker_id,
            posted.external_id,
            posted.url,
            clock(),
            policy.figures,
        )
    log.info("reply_posted", comment=posted.external_id, recorded=recorded)
    return True


def _backoff(attempt: int, policy: ReplyPolicy, rng: random.Random) -> timedelta:
    """Exponential backoff with full jitter, capped."""
    ceiling = min(
        policy.backoff_maximum.total_seconds(),
        policy.backoff_initial.total_seconds() * 2 ** max(0, attempt - 1),
    )
    return timedelta(seconds=rng.uniform(ceiling / 2, ceiling))


def link_repeats_once(engine: Engine, *, limit: int = inbox.REPEAT_BATCH) -> int:
    """Compare every incident opened since the last run with the day's open ones and group
    the repeats (``inbox.link_pending_repeats``), a batch per transaction; the number
    compared. Another worker doing it meanwhile makes this one stop at once."""
    compared = 0
    while True:
        with engine.begin() as conn:
            done, linked = inbox.link_pending_repeats(conn, limit)
        compared += done
        if linked:
            metrics.REPEATS_LINKED.inc(linked)
        if done < limit:
            return compared
