"""``incident health``: is the deployment working, for scripts and monitoring."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TextIO

from incident import health
from incident.commands.common import EXIT_FAILURE, EXIT_OK, load
from incident.wiring import open_engine


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the parser."""
    p = sub.add_parser(
        "health",
        help="check the database, the worker, every source and the outbox; exit 1 on a problem",
    )
    p.add_argument(
        "--max-intervals",
        type=int,
        default=health.DEFAULT_MAX_INTERVALS,
        metavar="N",
        help="a source is a problem after N sweep intervals without success (default: 3)",
    )
    p.set_defaults(handler=cmd_health)


def cmd_health(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """One line per check ("ok" or "PROBLEM"); exit 1 if any check found a problem."""
    out = out or sys.stdout
    if args.max_intervals < 1:
        print("incident health: --max-intervals must be 1 or more", file=sys.stderr)
        return EXIT_FAILURE
    config = load(args)
    engine = open_engine(config)
    try:
        checks = health.check_health(
            engine, config, datetime.now(UTC), max_intervals=args.max_intervals
        )
    finally:
        engine.dispose()
    for check in checks:
        print(f"{'ok' if check.ok else 'PROBLEM':8} {check.name}: {check.detail}", file=out)
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILURE
