"""Incidents from the command line: status, queue, reply, reclassify."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TextIO

from incident import inbox, training, wiring
from incident.commands.common import EXIT_FAILURE, EXIT_OK, database, load, print_table
from incident.daemon import utc_now
from incident.words import count_en


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the parser."""
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


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = int((now - value).total_seconds())
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def cmd_status(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Each configured source's state, last success, last sweep, API calls, last error."""
    out = out or sys.stdout  # the stream of this moment, not the one at import
    config = load(args)
    now = datetime.now(UTC)
    with database(config) as engine, engine.connect() as conn:
        states = inbox.source_states(conn)
        totals = inbox.counts(conn)
    head = ("SOURCE", "PLATFORM", "STATE", "LAST SUCCESS", "LAST SWEEP (LAG)", "API CALLS")
    rows = [(*head, "LAST ERROR")]
    for s in config.sources:  # every configured source, whatever its platform
        st = states.get(s.name)
        if not s.enabled:
            rows.append((s.name, s.platform, "disabled", "", "", "", ""))
        elif st is None:
            rows.append((s.name, s.platform, "never run", "", "", "", ""))
        else:
            err = f"{_ago(st.last_error_at, now)}: {st.last_error}" if st.last_error else ""
            rows.append(
                (
                    s.name,
                    s.platform,
                    st.state,
                    _ago(st.last_success_at, now),
                    _ago(st.last_sweep_at, now),
                    str(st.api_calls),
                    err[:120],
                )
            )
    print_table(rows, out)
    print(
        f"\n{count_en(totals['comments'], 'comment', 'comments')} stored, "
        f"{count_en(totals['open'], 'incident', 'incidents')} open, "
        f"{count_en(totals['posted'], 'reply', 'replies')} posted",
        file=out,
    )
    return EXIT_OK


def cmd_queue(args: argparse.Namespace) -> int:
    """Open incidents, newest first, as a table."""
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
    print_table(rows, sys.stdout)
    return EXIT_OK


def _left(due: datetime, now: datetime) -> str:
    minutes = int((due - now).total_seconds() // 60)
    sign = "-" if minutes < 0 else ""
    minutes = abs(minutes)
    return f"{sign}{minutes // 60}h{minutes % 60:02d}m"


def cmd_reply(args: argparse.Namespace) -> int:
    """Queue a reply for the worker to post, checked like the web app's."""
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
    """Classify open incidents again under the current rules; deadlines follow the topic."""
    config = load(args)
    ruleset = wiring.load_rules(config)
    with database(config) as engine:
        model = training.ActiveModel(engine)
        model.refresh()
        with engine.begin() as conn:
            checked, changed = inbox.reclassify_open(
                conn,
                wiring.rule_classifier(ruleset, model),
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
