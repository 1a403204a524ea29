"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, headless.

When /usr/bin/chromium is missing the tests skip on a developer's machine and FAIL in CI
(CI=true), like the PostgreSQL half of the suite. Never `playwright install`: the browser comes
from apt (`apt-get install -y chromium`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

CHROMIUM = Path(os.environ.get("INCIDENT_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"Chromium is required in CI but unavailable: {reason}")
    pytest.skip(f"Chromium unavailable: {reason}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        try:
            chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Exception as exc:
            _unavailable(f"{type(exc).__name__}: {exc}".splitlines()[0])
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        pw.stop()
