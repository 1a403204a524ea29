"""The platforms the source contract runs against, and the ``requires`` marker.

Every scenario that uses the ``harness`` fixture runs once per platform in ``HARNESSES`` and,
through the ``engine`` fixture, once per database. ``@requires("push", ...)`` names the
``Capabilities`` a scenario needs: a platform without them is left out of that scenario's
parametrization (not skipped), and a scenario no platform can run is not collected at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import fields
from functools import cache

import pytest

from tests.contract.harness import Capabilities, PlatformHarness
from tests.contract.ok import ok_harness
from tests.contract.telegram import telegram_harness
from tests.contract.vk import vk_harness

HarnessFactory = Callable[[], AbstractContextManager[PlatformHarness]]

# One line per platform: its name (the test id) and a factory opening a harness.
HARNESSES: list[tuple[str, HarnessFactory]] = [
    ("vk", vk_harness),
    ("ok", ok_harness),
    ("telegram", telegram_harness),
]

CAPABILITIES = frozenset(f.name for f in fields(Capabilities))


def requires(*capabilities: str) -> pytest.MarkDecorator:
    """Run the scenario only on platforms with every one of ``capabilities``."""
    unknown = set(capabilities) - CAPABILITIES
    if unknown:
        raise ValueError(f"unknown capabilities {sorted(unknown)}; known: {sorted(CAPABILITIES)}")
    return pytest.mark.requires(*capabilities)


@cache
def capabilities_of(name: str) -> Capabilities:
    """What platform ``name`` can do: asked of a harness opened once for the session."""
    factory = dict(HARNESSES)[name]
    with factory() as harness:
        return harness.capabilities


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(*capabilities): the platform Capabilities a contract scenario needs"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "contract_platform" not in metafunc.fixturenames:
        return
    needed = [name for mark in metafunc.definition.iter_markers("requires") for name in mark.args]
    platforms = [
        (name, factory)
        for name, factory in HARNESSES
        if all(getattr(capabilities_of(name), need) for need in needed)
    ]
    metafunc.parametrize(
        "contract_platform",
        platforms,
        ids=[name for name, _ in platforms],
        indirect=True,
        scope="function",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A scenario no platform can run yet (an empty parametrization) is deselected, not
    skipped: CI never skips. It is collected again once a platform with the capability joins."""
    unrunnable = [
        item
        for item in items
        if isinstance(item, pytest.Function)
        and "contract_platform" in item.fixturenames
        and not _has_platform(item)
    ]
    if unrunnable:
        config.hook.pytest_deselected(items=unrunnable)
        items[:] = [item for item in items if item not in unrunnable]


def _has_platform(item: pytest.Function) -> bool:
    """Whether the item got a platform (an empty parametrization leaves pytest's NOTSET)."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and isinstance(callspec.params.get("contract_platform"), tuple)


@pytest.fixture
def contract_platform(request: pytest.FixtureRequest) -> tuple[str, HarnessFactory]:
    """The platform under test: its name and its harness factory."""
    value: tuple[str, HarnessFactory] = request.param
    return value


@pytest.fixture
def harness(contract_platform: tuple[str, HarnessFactory]) -> Iterator[PlatformHarness]:
    """A running fake of the platform, empty, with a source's credentials working."""
    _, factory = contract_platform
    with factory() as opened:
        yield opened


@pytest.fixture
def open_harness(contract_platform: tuple[str, HarnessFactory]) -> HarnessFactory:
    """Opens another harness of the same platform: another page, another source name."""
    return contract_platform[1]
