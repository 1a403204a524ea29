"""VK: a community's wall comments through ``vk_api``.

``source.py`` (the ``Source``), ``calls.py`` (every API call: retry, error classes), ``wire.py``
(VK's JSON -> ``Comment``), ``config.py`` (its ``[[sources]]`` table), ``links.py`` (links to
posts, comments and private messages), ``build.py`` (settings -> source). This package's names
below are what ``incident.sources.registry`` needs of a platform.
"""

from __future__ import annotations

from incident.sources.vk.build import build_vk_source as build
from incident.sources.vk.calls import RetryPolicy
from incident.sources.vk.config import read_vk_config as read_config
from incident.sources.vk.links import comment_link, post_link, private_chat_link
from incident.sources.vk.source import VkSource

__all__ = [
    "RetryPolicy",
    "VkSource",
    "build",
    "comment_link",
    "post_link",
    "private_chat_link",
    "read_config",
]
