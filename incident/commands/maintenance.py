"""Keeping the data: ``backup`` (SQLite) and ``retention`` (personal data of old incidents)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from dateutil.relativedelta import relativedelta

from incident import inbox
from incident.backup import BackupError, backup_sqlite, sqlite_path
from incident.commands.common import EXIT_FAILURE, EXIT_OK, database, load
from incident.words import count_en

EXIT_USAGE = 2
PG_DUMP_HINT = (
    "PostgreSQL is backed up with pg_dump, e.g. "
    "`pg_dump --format=custom --file=incident-$(date +%F).dump <database>` "
    '(README, "Backups and retention")'
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the parser."""
    p = sub.add_parser("backup", help="copy the SQLite database while it is in use")
    p.add_argument(
        "--out", required=True, type=Path, help="the new backup file (never overwritten)"
    )
    p.set_defaults(handler=cmd_backup)

    p = sub.add_parser(
        "retention",
        help="remove texts and names of finished incidents older than [retention] allows",
    )
    p.add_argument(
        "--months",
        type=int,
        metavar="N",
        help="older than N months (default: [retention] personal_data_months)",
    )
    p.set_defaults(handler=cmd_retention)


def cmd_backup(args: argparse.Namespace) -> int:
    """Back up the SQLite database to ``--out``; for PostgreSQL, say how to use pg_dump."""
    config = load(args)
    try:
        path = sqlite_path(config.database_url)
        if path is None:
            print(f"incident backup: {PG_DUMP_HINT}", file=sys.stderr)
            return EXIT_USAGE
        size = backup_sqlite(path, args.out)
    except BackupError as exc:
        print(f"incident backup: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"backed up {path} to {args.out} ({size:,} bytes, integrity ok)")
    return EXIT_OK


def cmd_retention(args: argparse.Namespace) -> int:
    """Remove personal data older than the configured (or given) months."""
    config = load(args)
    months = args.months if args.months is not None else config.retention_months
    if months is None or months < 1:
        print(
            "incident retention: nothing to do: set [retention] personal_data_months "
            "or pass --months N (1 or more)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    now = datetime.now(UTC)
    cutoff = now - relativedelta(months=months)
    with database(config) as engine, engine.begin() as conn:
        removed = inbox.remove_personal_data(conn, cutoff, now)
    print(
        f"removed the personal data of {count_en(removed, 'comment', 'comments')} written "
        f"before {cutoff:%Y-%m-%d} ({count_en(months, 'month', 'months')}); statistics are kept"
    )
    return EXIT_OK
