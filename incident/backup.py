"""Online backups of a SQLite database (``incident backup``).

SQLite's online backup API copies a consistent snapshot while the worker and the web app keep
writing; the copy is checked with ``PRAGMA integrity_check`` and is readable by its owner only.
PostgreSQL is backed up with its own tools (``pg_dump``; the README's recipe).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """The backup could not be made; the message says why in plain words."""


def sqlite_path(database_url: str) -> Path | None:
    """The database file of a SQLite URL; None for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(url.database)


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy the SQLite database ``source`` to the new file ``target`` (mode 0600; an existing
    file is never overwritten) and check the copy; returns its size in bytes."""
    if not source.is_file():
        raise BackupError(f"{source}: no such database file")
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(f"{target}: already exists; choose a new file name") from None
    except OSError as exc:
        raise BackupError(f"{target}: cannot create: {exc.strerror}") from None
    os.close(fd)
    try:
        with (
            sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src,
            sqlite3.connect(target) as dst,
        ):
            src.execute("PRAGMA busy_timeout = 30000")
            src.backup(dst, pages=4096)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            check = dst.execute("PRAGMA integrity_check").fetchone()
        if check is None or check[0] != "ok":
            raise BackupError(f"{target}: the copy failed its integrity check: {check}")
    except (sqlite3.Error, BackupError) as exc:
        target.unlink(missing_ok=True)
        if isinstance(exc, BackupError):
            raise
        raise BackupError(f"{source}: backup failed: {exc}") from None
    return target.stat().st_size
