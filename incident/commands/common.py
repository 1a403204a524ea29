"""What every command shares: exit codes, loading the config, opening the database, tables."""

from __future__ import annotations

import argparse
import gc
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
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


def settle_heap() -> None:
    """Before a long-running process (the worker, the web app) starts serving: what start-up
    built (modules, rules, models, about 90,000 objects) is left out of every later garbage
    collection. Python's full collections otherwise walk it each time, holding every thread
    (75 to 130 ms each on a 2-core machine), and under load they come often."""
    gc.collect()
    gc.freeze()


def print_table(rows: Sequence[tuple[str, ...]], out: TextIO) -> None:
    """Rows as left-aligned columns, the first row being the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)


def how_to_run(
    argv0: str | None = None,
    cwd: Path | None = None,
    executable: str | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> str:
    """The command that starts incident again as this process was started, written so that it
    works when typed in the current folder: ``incident`` when that name is on the PATH and is
    this program, else its path (relative to the folder when inside it, e.g.
    ``.venv/bin/incident``), or ``<python> -m incident`` for ``python -m incident``."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    here = Path.cwd() if cwd is None else cwd
    if Path(argv0).name == "__main__.py":
        python = _typed_path(executable or sys.executable, here)
        return f"{shlex.quote(python)} -m incident"
    name = Path(argv0).name
    found = which(name)
    if found and _same_file(found, str(here / argv0)):
        return shlex.quote(name)  # the PATH finds this very program: the name works as typed
    return shlex.quote(_typed_path(argv0, here))


def _typed_path(program: str, here: Path) -> str:
    """``program``'s path as one would type it in ``here``: relative when it lies inside."""
    full = Path(program) if Path(program).is_absolute() else here / program
    full = Path(os.path.normpath(full))
    try:
        inside = full.relative_to(here)
    except ValueError:
        return str(full)
    return str(inside) if os.sep in str(inside) else f".{os.sep}{inside}"


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
