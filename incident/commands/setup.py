"""Setting up a deployment: init, check-config, db upgrade."""

from __future__ import annotations

import argparse
import shutil
import sys
from importlib import resources
from pathlib import Path

from incident import files, inbox, migrate, wiring
from incident.commands.common import EXIT_OK, EXIT_USAGE, load, safe_url
from incident.config import ConfigError
from incident.words import count_en


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the parser."""
    p = sub.add_parser("init", help="write a starter config.toml and create the database")
    p.add_argument("--force", action="store_true", help="overwrite an existing config file")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("check-config", help="validate the config file and its secrets")
    p.set_defaults(handler=cmd_check_config, needs_secrets=True)

    p = sub.add_parser("db", help="database maintenance")
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    up = dbsub.add_parser("upgrade", help="create or migrate the database schema")
    up.set_defaults(handler=cmd_db_upgrade)


def cmd_init(args: argparse.Namespace) -> int:
    """Write the starter config next to a new database, and create its schema."""
    path = Path(args.config)
    if path.exists() and not args.force:
        print(f"{path} exists; use --force to overwrite it", file=sys.stderr)
        return EXIT_USAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    example = resources.files("incident").joinpath("data/config.example.toml")
    with example.open("rb") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    files.private_dirs(path.parent / "var")  # the SQLite database's folder
    config = load(args)
    engine = wiring.open_engine(config)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    print(f"wrote {path} and created the database ({safe_url(config)})")
    print("next: add a [[sources]] table, set its tokens, then `incident check-config`")
    return EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the config and every enabled source's secrets; print what was found."""
    config = load(args)
    print(f"config: {config.path}")
    print(f"database: {safe_url(config)}")
    if not config.sources:
        print("sources: none configured (add a [[sources]] table)")
    for s in config.sources:
        print(f"source {s.name}: {s.summary()}")
    for kind, folder in (("rules", config.rules_dir), ("replies", config.replies_dir)):
        if not folder.is_dir():
            raise ConfigError(f"{kind}: {folder} is not a directory ({config.data_origin(kind)})")
        print(f"{kind}: {folder} ({config.data_origin(kind)})")
    print("ok")
    return EXIT_OK


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Migrate the schema to the latest revision and backfill figures older rows lack."""
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
            print(
                f"filled in answer times of {count_en(figures, 'incident', 'incidents')} "
                f"and kinds of {count_en(kinds, 'reply', 'replies')}"
            )
    finally:
        engine.dispose()
    return EXIT_OK
