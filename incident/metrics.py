"""Prometheus metrics (prometheus_client): counters the worker's steps bump as they go, and
gauges read from the database when scraped.

Exposed by the worker on ``[worker] metrics_port`` (loopback by default) and by the web app
on ``/metrics`` behind a bearer token ($INCIDENT_METRICS_TOKEN); see the README, "Monitoring".
Counters count since the process started (Prometheus' ``rate``/``increase`` handle restarts);
the gauges are the same whichever process serves them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import Engine, func, select

from incident import db

COMMENTS_INGESTED = Counter(
    "incident_comments_ingested_total", "New comments stored, by source", ["source"]
)
POLL_ERRORS = Counter(
    "incident_poll_errors_total",
    "Failed polls (sweeps and live rounds), by source and kind: transient, permanent, database",
    ["source", "kind"],
)
LONGPOLL_RECONNECTS = Counter(
    "incident_longpoll_reconnects_total",
    "Times a live channel was (re)connected: a new long-poll server or session",
    ["source"],
)
OUTBOX_FAILURES = Counter(
    "incident_outbox_failures_total",
    "Replies that failed to post, by kind: transient (retried) or refused (failed for good)",
    ["kind"],
)
DATABASE_ERRORS = Counter(
    "incident_database_errors_total", "Database errors caught by the worker's loops", ["part"]
)
REPEATS_LINKED = Counter(
    "incident_repeats_linked_total", "New incidents found to repeat an open one and grouped"
)
CLASSIFICATION_SECONDS = Histogram(
    "incident_classification_seconds",
    "Time to classify one comment",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)


class DatabaseGauges(Collector):
    """Gauges read from the database at each scrape: open and overdue incidents, replies
    waiting and failed, and each source's state and last success. A scrape that cannot read
    the database reports ``incident_database_up 0`` and nothing else."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("incident_database_up", "1 if the database answered the scrape")
        now = self.clock()
        i, o = db.incidents.c, db.outbox.c
        try:
            with self.engine.connect() as conn:
                open_now, overdue = conn.execute(
                    select(
                        func.count(),
                        func.count().filter(i.due_at < now),
                    ).where(i.status == "open")
                ).one()
                outbox: dict[str, int] = {
                    str(status): int(n)
                    for status, n in conn.execute(
                        select(o.status, func.count())
                        .where(o.status.in_(("pending", "sending", "failed")))
                        .group_by(o.status)
                    )
                }
                sources = conn.execute(
                    select(
                        db.source_status.c.source,
                        db.source_status.c.platform,
                        db.source_status.c.state,
                        db.source_status.c.last_success_at,
                    )
                ).all()
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("incident_open_incidents", "Incidents open now", value=open_now)
        yield GaugeMetricFamily(
            "incident_overdue_incidents", "Open incidents past their deadline", value=overdue
        )
        waiting = GaugeMetricFamily(
            "incident_outbox_replies", "Replies in the outbox, by status", labels=["status"]
        )
        for status in ("pending", "sending", "failed"):
            waiting.add_metric([status], outbox.get(status, 0))
        yield waiting
        state = GaugeMetricFamily(
            "incident_source_up",
            "1 if the source's last poll succeeded, 0 if degraded or stopped",
            labels=["source", "platform", "state"],
        )
        success = GaugeMetricFamily(
            "incident_source_last_success_timestamp_seconds",
            "When the source last polled successfully (Unix time)",
            labels=["source", "platform"],
        )
        for name, platform, st, last in sources:
            state.add_metric([name, platform, st], 1 if st == "ok" else 0)
            if last is not None:
                success.add_metric([name, platform], last.timestamp())
        yield state
        yield success


def registry_with_database(engine: Engine) -> CollectorRegistry:
    """A registry with the process's counters and the database gauges of ``engine``."""
    from prometheus_client import REGISTRY

    registry = CollectorRegistry()
    registry.register(_Forward(REGISTRY))
    registry.register(DatabaseGauges(engine))
    return registry


class _Forward(Collector):
    """Everything the default registry holds (our counters, the process metrics)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[object]:  # type: ignore[override]
        yield from self.registry.collect()
