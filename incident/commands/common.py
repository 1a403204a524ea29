"""What every command shares: exit codes, loading the config, opening the database, tables."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine

from incident import migrate, wiring
from incident.config import Config, ConfigError
from incident.logs import configure_logging

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


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


def safe_url(config: Config) -> str:
    """The database URL with its password hidden, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(config.database_url).render_as_string(hide_password=True)


@contextmanager
def database(config: Config) -> Iterator[Engine]:
    """The configured database, which must have its schema; disposed of on the way out."""
    engine = wiring.open_engine(config)
    try:
        if migrate.current_revision(engine) is None:
            raise ConfigError(f"{safe_url(config)}: no schema yet; run `incident db upgrade`")
        yield engine
    finally:
        engine.dispose()


def print_table(rows: Sequence[tuple[str, ...]], out: TextIO) -> None:
    """Rows as left-aligned columns, the first row being the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)
