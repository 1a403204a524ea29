"""Build the classifier's hot path as C extensions with mypyc (everything else is pyproject.toml).

``incident classify`` spends its time in three pure-Python modules: the tokenizer
(``incident/text.py``), the rule classifier (``incident/classify.py``) and the learned model's
scoring (``incident/learned.py``). mypyc, the compiler of the type checker the project already
uses, turns them into C extensions that run the same code about a third faster. They are built
in place, beside the sources (``make install`` is an editable install), together with
``incident/_native.json``: the SHA-256 of each source they were built from. ``incident/__init__``
uses the extensions only while all three sources are unchanged, so an edited source is never
shadowed by a stale extension: it runs as plain Python until the next ``make install``.

The extensions are optional: without a C compiler, or with ``INCIDENT_PURE_PYTHON=1``, the
install succeeds and the same modules run as plain Python.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
NATIVE = ("incident/text.py", "incident/classify.py", "incident/learned.py")
MANIFEST = HERE / "incident" / "_native.json"
GROUP = "incident_native"


def native_extensions() -> list[object]:
    if os.environ.get("INCIDENT_PURE_PYTHON") == "1":
        MANIFEST.unlink(missing_ok=True)
        return []
    try:
        from mypyc.build import mypycify
    except ImportError as exc:  # pragma: no cover - mypy is a build requirement
        print(f"incident: no mypyc ({exc}); the classifier runs as plain Python", file=sys.stderr)
        return []
    sources = {
        path.removesuffix(".py").replace("/", "."): hashlib.sha256(
            (HERE / path).read_bytes()
        ).hexdigest()
        for path in NATIVE
    }
    # one fixed name for the modules' shared library, so that every build replaces it
    try:
        extensions = mypycify(list(NATIVE), opt_level="3", debug_level="0", group_name=GROUP)
    except (Exception, SystemExit) as exc:  # mypyc refused the code: plain Python, said why
        MANIFEST.unlink(missing_ok=True)
        print(
            f"incident: not compiled ({exc!r}); the classifier runs as plain Python",
            file=sys.stderr,
        )
        return []
    for extension in extensions:
        extension.optional = True  # no compiler: plain Python, not a failed install
    sources["_group"] = f"{GROUP}__mypyc"
    MANIFEST.write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return list(extensions)


class BuildEveryTime(build_ext):
    """Rebuild the extensions on every install: an extension left from an earlier build is
    never taken for up to date while its sources changed."""

    def initialize_options(self) -> None:
        super().initialize_options()
        self.force = True


setup(ext_modules=native_extensions(), cmdclass={"build_ext": BuildEveryTime})
