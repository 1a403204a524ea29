"""Argument parsing and dispatch only. ``main(argv) -> exit code``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from incident import __version__, files
from incident.commands import classify as classify_commands
from incident.commands import (
    demo,
    health,
    incidents,
    maintenance,
    report,
    setup,
    sla,
    survey,
    telegram,
    users,
    web,
    worker,
)
from incident.config import ConfigError, default_config_path
from incident.wiring import load_config

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incident",
        description="Incident-response worker for a public body's social-media pages.",
    )
    parser.add_argument(
        "--config",
        default=str(default_config_path()),
        metavar="PATH",
        help="config file (default: $INCIDENT_CONFIG or ./config.toml)",
    )
    parser.add_argument("--version", action="version", version=f"incident {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    setup.register(sub)
    worker.register(sub)
    incidents.register(sub)
    health.register(sub)
    maintenance.register(sub)
    demo.register(sub)
    web.register(sub)
    users.register(sub)
    sla.register(sub)
    report.register(sub)
    classify_commands.register(sub)
    telegram.register(sub)
    survey.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if getattr(args, "private_umask", False):
        # the worker, the web app and the demo: whatever they or their libraries create
        # (SQLite's journals, temporary files) is their user's only
        os.umask(files.PRIVATE_UMASK)
    try:
        if args.command == "sla":
            # the calendar and policies of this deployment, when it has a config file
            path = Path(args.config)
            if path.exists():
                args.sla_settings = load_config(path, require_secrets=False).sla
        code: int = args.handler(args)
    except ConfigError as exc:
        print(f"incident: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return code
