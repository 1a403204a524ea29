"""The platforms this deployment can serve: one entry per platform, one line each.

Adding a platform is a folder under ``incident/sources/`` plus one line in ``PLATFORMS``: its
name (``incident.models.Platform``), its Russian title, its badge in the web app (letters,
colour), its ``[[sources]]`` parser, its source builder and its link builders. Configuration
(``incident.config.parse_config``), the wiring and the web app look platforms up here; nothing
else names one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from incident.config import SourceConfig, SourceContext, WorkerConfig
from incident.config.reader import Table
from incident.models import Platform
from incident.sources import ok, telegram, vk
from incident.sources.base import Source


@dataclass(frozen=True, slots=True)
class PlatformSupport:
    """Everything the rest of the system needs to know about one platform."""

    name: str  # as stored in incidents and written in config.toml (``Platform``)
    title: str  # shown to staff
    mark: str  # the short letters of its badge in the web app
    colour: str  # the badge's background, ``#rrggbb``
    read_config: Callable[[Table, SourceContext], SourceConfig]  # one [[sources]] table
    build: Callable[[SourceConfig, WorkerConfig], Source]  # (its settings, the worker's)
    post_link: Callable[[str, str], str | None]  # (community, post id)
    comment_link: Callable[[str, str, str, str | None], str | None]  # (+ comment id, thread root)
    private_link: Callable[[str], str | None]  # (community): where to write privately


class PlatformPackage(Protocol):
    """What a platform's folder (``incident/sources/<platform>/__init__.py``) exports."""

    @property
    def read_config(self) -> Callable[[Table, SourceContext], SourceConfig]: ...
    @property
    def build(self) -> Callable[[SourceConfig, WorkerConfig], Source]: ...
    @property
    def post_link(self) -> Callable[[str, str], str | None]: ...
    @property
    def comment_link(self) -> Callable[[str, str, str, str | None], str | None]: ...
    @property
    def private_chat_link(self) -> Callable[[str], str | None]: ...


def _support(
    platform: Platform, title: str, mark: str, colour: str, package: PlatformPackage
) -> PlatformSupport:
    return PlatformSupport(
        name=platform.value,
        title=title,
        mark=mark,
        colour=colour,
        read_config=package.read_config,
        build=package.build,
        post_link=package.post_link,
        comment_link=package.comment_link,
        private_link=package.private_chat_link,
    )


# One line per platform.
_ALL = (
    _support(Platform.VK, "ВКонтакте", "ВК", "#0077ff", vk),
    _support(Platform.OK, "Одноклассники", "ОК", "#ee8208", ok),
    _support(Platform.TELEGRAM, "Telegram", "TG", "#229ed9", telegram),
)

PLATFORMS: Mapping[str, PlatformSupport] = MappingProxyType({p.name: p for p in _ALL})


def title(platform: str) -> str:
    """The platform's Russian title; the name itself for a platform not registered here."""
    support = PLATFORMS.get(platform)
    return support.title if support is not None else platform
