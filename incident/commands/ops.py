"""Operations commands: init, check-config, db upgrade, run, poll, status, queue, reply."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine

from incident import inbox, migrate, pipeline, wiring
from incident.config import Config, ConfigError
from incident.daemon import Worker, utc_now
from incident.logs import configure_logging
from incident.notify import build_notifiers

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="write a starter config.toml and create the database")
    p.add_argument("--force", action="store_true", help="overwrite an existing config file")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("check-config", help="validate the config file and its secrets")
    p.set_defaults(handler=cmd_check_config, needs_secrets=True)

    p = sub.add_parser("db", help="database maintenance")
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    up = dbsub.add_parser("upgrade", help="create or migrate the database schema")
    up.set_defaults(handler=cmd_db_upgrade)

    p = sub.add_parser("run", help="run the worker until SIGTERM/SIGINT")
    p.set_defaults(handler=cmd_run, needs_secrets=True)

    p = sub.add_parser("poll", help="sweep sources once and exit")
    p.add_argument("--once", action="store_true", required=True, help="one sweep, then exit")
    p.add_argument("--source", metavar="NAME", help="only this source")
    p.set_defaults(handler=cmd_poll, needs_secrets=True)

    p = sub.add_parser("status", help="each source's state, last success and last error")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("queue", help="open incidents, newest first")
    p.add_argument("--limit", type=int, default=30)
    p.set_defaults(handler=cmd_queue)

    p = sub.add_parser(
        "reclassify", help="classify open incidents again after a change of the rules"
    )
    p.add_argument(
        "--all", action="store_true", help="every open incident, not only those under older rules"
    )
    p.set_defaults(handler=cmd_reclassify)

    p = sub.add_parser("reply", help="queue a reply; the worker posts it as the community")
    p.add_argument("incident_id", type=int, metavar="ID")
    p.add_argument("--text", required=True)
    p.add_argument("--as", dest="actor", default="cli", help="who is answering (for the record)")
    p.set_defaults(handler=cmd_reply)


def load(args: argparse.Namespace) -> Config:
    """The config for a command; platform secrets are required only by commands that call a
    platform (they set ``needs_secrets``)."""
    config: Config = wiring.load_config(
        Path(args.config), require_secrets=getattr(args, "needs_secrets", False)
    )
    configure_logging(
        config.log_level, config.log_format, known_secrets=wiring.known_secrets(config)
    )
    return config


def cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.config)
    if path.exists() and not args.force:
        print(f"{path} exists; use --force to overwrite it", file=sys.stderr)
        return EXIT_USAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    example = resources.files("incident").joinpath("data/config.example.toml")
    with example.open("rb") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    (path.parent / "var").mkdir(exist_ok=True)
    config = load(args)
    engine = wiring.open_engine(config)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    print(f"wrote {path} and created the database ({_safe_url(config)})")
    print("next: add a [[sources]] table, set its tokens, then `incident check-config`")
    return EXIT_OK


def _safe_url(config: Config) -> str:
    from sqlalchemy.engine import make_url

    return make_url(config.database_url).render_as_string(hide_password=True)


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load(args)
    print(f"config: {config.path}")
    print(f"database: {_safe_url(config)}")
    if not config.sources:
        print("sources: none configured (add a [[sources]] table)")
    for s in config.sources:
        print(f"source {s.name}: {s.summary()}")
    print("ok")
    return EXIT_OK


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    config = load(args)
    engine = wiring.open_engine(config)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            # answers given before their times were stored (older versions) get them now
            figures = inbox.backfill_response_figures(conn, config.sla)
            kinds = inbox.backfill_reply_kinds(conn)
        print(f"database at revision {migrate.current_revision(engine)}")
        if figures or kinds:
            print(f"filled in answer times of {figures} incidents and kinds of {kinds} replies")
    finally:
        engine.dispose()
    return EXIT_OK


@contextmanager
def database(config: Config) -> Iterator[Engine]:
    """The configured database, which must have its schema; disposed of on the way out."""
    engine = wiring.open_engine(config)
    try:
        if migrate.current_revision(engine) is None:
            raise ConfigError(f"{_safe_url(config)}: no schema yet; run `incident db upgrade`")
        yield engine
    finally:
        engine.dispose()


def cmd_run(args: argparse.Namespace) -> int:
    config = load(args)
    if not config.enabled_sources():
        raise ConfigError(f"{config.path}: no enabled [[sources]]: nothing to run")
    ruleset = wiring.load_rules(config)
    labels = {t.id: t.title for t in ruleset.topics.values()}
    with database(config) as engine:
        sources = wiring.build_sources(config)
        notifiers = build_notifiers(config.notify)
        worker = Worker(
            engine,
            sources,
            config.worker,
            wiring.build_ingestion(config, ruleset),
            listeners=[s.name for s in config.enabled_sources() if s.listens],
            warn_step=wiring.build_warn_step(engine, config, notifiers, labels),
        )
        try:
            worker.run_until_signal()
        finally:
            for s in sources:
                s.close()
            for n in notifiers:
                n.close()
    return EXIT_OK


def cmd_poll(args: argparse.Namespace) -> int:
    config = load(args)
    ingestion = wiring.build_ingestion(config)  # the rule set is read once, not per source
    failed = False
    with database(config) as engine:
        for source in wiring.build_sources(config, args.source):
            outcome = pipeline.sweep_once(engine, source, utc_now, ingestion)
            r = outcome.result
            line = (
                f"{source.name}: {r.stored} new comments, {r.incidents} incidents opened, "
                f"{r.answered} answered on the platform, {r.duplicates} already stored, "
                f"{outcome.api_calls} API calls"
            )
            if outcome.error is not None:
                failed = True
                line += f"; ERROR ({'stopped' if outcome.stopped else 'will retry'}): "
                line += str(outcome.error)
            print(line)
            source.close()
    return EXIT_FAILURE if failed else EXIT_OK


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = int((now - value).total_seconds())
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def cmd_status(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    config = load(args)
    now = datetime.now(UTC)
    with database(config) as engine, engine.connect() as conn:
        states = inbox.source_states(conn)
        totals = inbox.counts(conn)
    rows = [("SOURCE", "STATE", "LAST SUCCESS", "LAST SWEEP (LAG)", "API CALLS", "LAST ERROR")]
    for s in config.sources:
        st = states.get(s.name)
        if not s.enabled:
            rows.append((s.name, "disabled", "", "", "", ""))
        elif st is None:
            rows.append((s.name, "never run", "", "", "", ""))
        else:
            err = f"{_ago(st.last_error_at, now)}: {st.last_error}" if st.last_error else ""
            rows.append(
                (
                    s.name,
                    st.state,
                    _ago(st.last_success_at, now),
                    _ago(st.last_sweep_at, now),
                    str(st.api_calls),
                    err[:120],
                )
            )
    _table(rows, out)
    print(
        f"\n{totals['comments']} comments stored, {totals['open']} incidents open, "
        f"{totals['posted']} replies posted",
        file=out,
    )
    return EXIT_OK


def _table(rows: Sequence[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)


def cmd_queue(args: argparse.Namespace) -> int:
    config = load(args)
    now = datetime.now(UTC)
    with database(config) as engine, engine.connect() as conn:
        items = inbox.open_incidents(conn, args.limit)
    if not items:
        print("no open incidents")
        return EXIT_OK
    rows = [("ID", "PLATFORM", "TOPIC", "DUE IN", "AUTHOR", "TEXT")]
    for i in items:
        left = "" if i.due_at is None else _left(i.due_at, now)
        text = " ".join(i.text.split())
        rows.append(
            (
                str(i.id),
                i.platform,
                i.topic or "-",
                left,
                (i.author_name or i.author_id)[:24],
                text[:70] + ("…" if len(text) > 70 else ""),
            )
        )
    _table(rows, sys.stdout)
    return EXIT_OK


def _left(due: datetime, now: datetime) -> str:
    minutes = int((due - now).total_seconds() // 60)
    sign = "-" if minutes < 0 else ""
    minutes = abs(minutes)
    return f"{sign}{minutes // 60}h{minutes % 60:02d}m"


def cmd_reply(args: argparse.Namespace) -> int:
    config = load(args)
    with database(config) as engine:
        try:
            with engine.begin() as conn:
                outbox_id = inbox.queue_reply(
                    conn, args.incident_id, args.text, args.actor, utc_now()
                )
        except inbox.ReplyNotAllowed as exc:
            print(f"cannot queue the reply: {exc.reason}", file=sys.stderr)
            return EXIT_FAILURE
    print(f"reply #{outbox_id} queued for incident {args.incident_id}; the worker will post it")
    return EXIT_OK


def cmd_reclassify(args: argparse.Namespace) -> int:
    config = load(args)
    ruleset = wiring.load_rules(config)
    with database(config) as engine, engine.begin() as conn:
        checked, changed = inbox.reclassify_open(
            conn,
            wiring.rule_classifier(ruleset),
            ruleset.version,
            utc_now(),
            deadline=wiring.working_hours_policy(config.sla),
            everything=args.all,
        )
    print(
        f"rules {ruleset.version}: {checked} open incidents classified again, "
        f"{changed} changed topic"
    )
    return EXIT_OK
