"""Files and folders for their owner only, whatever the umask.

What ``incident`` writes holds citizens' comments and names (the SQLite database, exports,
reports) or tokens (the demo's secrets), so it is created 0600, and a folder it creates for
them 0700. Writers that open such a file again for writing (``open(path, "w")``, openpyxl,
SQLite's ``-wal`` and ``-shm`` files, which take the database file's mode) keep that mode.

An existing file is tightened only when it is a regular file of this user: ``--out
/dev/null`` or a file someone else owns is left as it is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["PRIVATE_DIR", "PRIVATE_FILE", "PRIVATE_UMASK", "private_dirs", "private_file"]

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
PRIVATE_UMASK = 0o077  # what the long-running commands set: whatever else they create follows


def private_file(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` empty with mode 0600, or take group and others' rights away from the
    regular file of ours already there. Returns the path."""
    target = Path(path)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        tighten(target)
        return target
    try:
        os.fchmod(fd, PRIVATE_FILE)  # the umask may have taken more than group and others
    finally:
        os.close(fd)
    return target


def tighten(path: str | os.PathLike[str]) -> None:
    """A regular file of this user loses every right of group and others (0644 -> 0600)."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(found.st_mode) and found.st_uid == os.geteuid() and found.st_mode & 0o077:
        os.chmod(path, stat.S_IMODE(found.st_mode) & ~0o077)


def private_dirs(path: str | os.PathLike[str]) -> Path:
    """``path`` as a folder; each folder created for it (parents included) is 0700."""
    target = Path(path)
    missing = []
    folder = target
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        os.chmod(created, PRIVATE_DIR)
    return target
