"""Argument parsing and dispatch only. ``main(argv) -> exit code``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from incident import __version__, files
from incident.config import ConfigError, default_config_path
from incident.wiring import load_config

EXIT_USAGE = 2
# What a shell reports for a process ended by SIGPIPE (128 + 13): `incident queue | head`
EXIT_BROKEN_PIPE = 141

# Which module under incident.commands registers each command, in the order `--help` lists
# them. A run imports only its command's module: the worker (`incident run`) then never loads
# the web app, the spreadsheet writer or the demo's fakes (tens of MB of its RSS).
# tests/test_cli.py checks this table against what each module registers.
COMMAND_MODULES: dict[str, str] = {
    "init": "setup",
    "check-config": "setup",
    "db": "setup",
    "run": "worker",
    "poll": "worker",
    "status": "incidents",
    "queue": "incidents",
    "reply": "incidents",
    "reclassify": "incidents",
    "health": "health",
    "backup": "maintenance",
    "retention": "maintenance",
    "demo": "demo",
    "web": "web",
    "user": "users",
    "sla": "sla",
    "report": "report",
    "export": "report",
    "classify": "classify",
    "rules": "classify",
    "suggest": "classify",
    "model": "model",
    "telegram": "telegram",
    "survey": "survey",
}


def _command_in(argv: Sequence[str]) -> str | None:
    """The command ``argv`` asks for (the first word that is not an option or ``--config``'s
    value), if it is one we know."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--config":
            skip = True
        elif not word.startswith("-"):
            return word if word in COMMAND_MODULES else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for every command, or for ``command``'s module only."""
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
    wanted = [COMMAND_MODULES[command]] if command else COMMAND_MODULES.values()
    for module in dict.fromkeys(wanted):
        importlib.import_module(f"incident.commands.{module}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code. A reader that stops early (``| head``) ends it quietly."""
    try:
        code = _run(argv)
        # what is still buffered goes out now, while a closed pipe can still be caught here
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    return code


def _discard_stdout() -> None:
    """Point standard output at /dev/null, so the interpreter's own flush at exit finds no
    closed pipe (and prints no second error). The recipe of Python's ``signal`` docs."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's capture): nothing is flushed to a pipe at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _run(argv: Sequence[str] | None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_in(arguments))
    args = parser.parse_args(arguments)
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
