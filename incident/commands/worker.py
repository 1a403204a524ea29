"""Running the worker: run (until a signal) and poll --once."""

from __future__ import annotations

import argparse
import sys

from prometheus_client import start_http_server

from incident import metrics, pipeline, training, wiring
from incident.commands.common import EXIT_FAILURE, EXIT_OK, database, load, settle_heap
from incident.config import ConfigError
from incident.daemon import Worker, WorkerDied, utc_now
from incident.notify import build_notifiers
from incident.words import count_en


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the parser."""
    p = sub.add_parser("run", help="run the worker until SIGTERM/SIGINT")
    p.set_defaults(handler=cmd_run, needs_secrets=True, private_umask=True)

    p = sub.add_parser("poll", help="sweep sources once and exit")
    p.add_argument("--once", action="store_true", required=True, help="one sweep, then exit")
    p.add_argument("--source", metavar="NAME", help="only this source")
    p.set_defaults(handler=cmd_poll, needs_secrets=True, private_umask=True)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the worker (listeners, sweeps, sender, SLA warnings) until SIGTERM or SIGINT."""
    config = load(args)
    if not config.enabled_sources():
        raise ConfigError(f"{config.path}: no enabled [[sources]]: nothing to run")
    ruleset = wiring.load_rules(config)
    labels = {t.id: t.title for t in ruleset.topics.values()}
    with database(config) as engine:
        if config.worker.metrics_port:
            start_http_server(
                config.worker.metrics_port,
                config.worker.metrics_address,
                registry=metrics.registry_with_database(engine),
            )
        sources = wiring.build_sources(config)
        notifiers = build_notifiers(config.notify)
        model = training.ActiveModel(engine)
        worker = Worker(
            engine,
            sources,
            config.worker,
            wiring.build_ingestion(config, ruleset, model),
            listeners=[s.name for s in config.enabled_sources() if s.listens],
            sweep_intervals={s.name: config.sweep_interval(s.name) for s in config.sources},
            warn_step=wiring.build_warn_step(engine, config, notifiers, labels),
            retention_months=config.retention_months,
            train_step=wiring.build_train_step(config, args.config),
            train_interval=config.model.train_interval_hours * 3600,
            refresh_model=model.refresh,
        )
        settle_heap()
        try:
            worker.run_until_signal()
        except WorkerDied as exc:
            # Exit with an error so the service manager (Restart=on-failure) starts us again.
            print(
                f"incident run: part of the worker stopped ({exc}); exiting so that the "
                "service manager restarts it",
                file=sys.stderr,
            )
            return EXIT_FAILURE
        finally:
            for s in sources:
                s.close()
            for n in notifiers:
                n.close()
    return EXIT_OK


def cmd_poll(args: argparse.Namespace) -> int:
    """One catch-up sweep of every source (or one); exit 1 if any failed."""
    config = load(args)
    failed = False
    with database(config) as engine:
        # the rule set and the model are read once, not per source
        model = training.ActiveModel(engine)
        model.refresh()
        ingestion = wiring.build_ingestion(config, model=model)
        for source in wiring.build_sources(config, args.source):
            outcome = pipeline.sweep_once(engine, source, utc_now, ingestion)
            r = outcome.result
            line = (
                f"{source.name}: {count_en(r.stored, 'new comment', 'new comments')}, "
                f"{count_en(r.incidents, 'incident', 'incidents')} opened, "
                f"{r.answered} answered on the platform, {r.duplicates} already stored, "
                f"{count_en(outcome.api_calls, 'API call', 'API calls')}"
            )
            if outcome.error is not None:
                failed = True
                line += f"; ERROR ({'stopped' if outcome.stopped else 'will retry'}): "
                line += str(outcome.error)
            print(line)
            source.close()
        # group the new incidents with the open ones they repeat, as the worker does
        pipeline.link_repeats_once(engine)
    return EXIT_FAILURE if failed else EXIT_OK
