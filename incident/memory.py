"""Giving the memory the process has freed back to the system.

Python hands every allocation above 512 bytes (comment texts, rows, JSON, HTTP bodies) to the C
library's ``malloc``. With glibc, a process with many threads (the worker: one per long poll)
spreads them over several malloc arenas, and a page freed in the middle of an arena stays in
the process, counted in its resident memory, until ``malloc_trim`` hands the free pages back.
The worker calls ``release`` once a minute. Elsewhere (musl, macOS) there is nothing to call
and ``release`` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

__all__ = ["release", "trimmer"]


@functools.cache
def trimmer() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


def release() -> bool:
    """Return the C library's free pages to the system; whether it could (and had any).

    ``ctypes`` lets go of the interpreter's lock for the call, so the other threads run on
    while glibc walks its arenas (a few milliseconds)."""
    trim = trimmer()
    return bool(trim(0)) if trim is not None else False
