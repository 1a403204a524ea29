"""incident: an incident-response worker for a public body's social-media pages.

The classifier's hot path (``incident.text``, ``incident.classify``, ``incident.learned``) may
be installed compiled by mypyc beside its sources (``setup.py``). The compiled modules are used
only while every one of those sources is the one they were built from (``_native.json``); an
edited source, a missing record, or ``INCIDENT_PURE_PYTHON=1`` makes all three run as plain
Python (they call each other directly once compiled, so they go together). ``NATIVE`` says
which: True when the compiled modules are in use.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

__version__ = "0.1.0"

_HERE = Path(__file__).resolve().parent
# the compiled modules and their sources
_SOURCES = {
    name: _HERE / f"{name.rsplit('.', 1)[1]}.py"
    for name in ("incident.text", "incident.classify", "incident.learned")
}


class _Sources(importlib.abc.MetaPathFinder):
    """Finds the plain-Python source of each named module, ahead of any compiled one."""

    def __init__(self, sources: dict[str, Path]) -> None:
        self.sources = sources

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def _compiled_present() -> bool:
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    return all(
        any(source.with_suffix(suffix).exists() for suffix in suffixes)
        for source in _SOURCES.values()
    )


def _compiled_is_current() -> bool:
    """Were the compiled modules built from the sources as they are now?"""
    if os.environ.get("INCIDENT_PURE_PYTHON") == "1":
        return False
    try:
        built = json.loads((_HERE / "_native.json").read_text(encoding="utf-8"))
        return (
            all(
                built.get(name) == hashlib.sha256(source.read_bytes()).hexdigest()
                for name, source in _SOURCES.items()
            )
            and importlib.util.find_spec(str(built["_group"])) is not None
        )  # their shared library
    except (OSError, ValueError, AttributeError, KeyError, ImportError):
        return False


_PRESENT = _compiled_present()
NATIVE = _PRESENT and _compiled_is_current()
if _PRESENT and not NATIVE:
    sys.meta_path.insert(0, _Sources(_SOURCES))
