"""The crash drill of ``bench/drill.py``, short: a real ``incident run`` process against the fake
VK is killed with SIGKILL and restarted every few seconds while citizens write, edit, delete and
restore and staff queue replies; afterwards the database must match the platform exactly and
every reply must be posted once. The long drills (two workers, a database outage, faults) print
their figures in the README (Benchmarks); the takeover by another worker is specified, fast, in
tests/test_worker_resilience.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_drill() -> ModuleType:
    spec = importlib.util.spec_from_file_location("drill", ROOT / "bench" / "drill.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["drill"] = module
    spec.loader.exec_module(module)
    return module


def test_a_short_crash_drill_loses_nothing_and_posts_nothing_twice() -> None:
    drill = load_drill()
    result = drill.run("crash", "sqlite", 20.0, 0.0, "")
    found = result["found"]
    tally = result["tally"]
    assert tally.kills >= 1
    assert tally.comments > 20
    assert (found["lost"], found["stale"], found["deleted_wrong"]) == (0, 0, 0), found
    assert (found["stored_twice"], found["replies_posted_twice"]) == (0, 0), found
    assert found["replies_pending"] == 0, found
    assert max(tally.recoveries) < drill.RECOVERY_TARGET
