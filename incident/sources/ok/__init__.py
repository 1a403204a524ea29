"""OK (Odnoklassniki): comments under a group's posts through a small signed httpx client.

``source.py`` (the ``Source``), ``client.py`` (every API call: signature, retry, error classes),
``wire.py`` (OK's JSON -> ``Comment``, cursors), ``config.py`` (its ``[[sources]]`` table),
``links.py`` (links to posts, comments and the group's messages), ``build.py`` (settings ->
source). This package's names below are what ``incident.sources.registry`` needs of a platform.
"""

from __future__ import annotations

from incident.sources.ok.build import build_ok_source as build
from incident.sources.ok.client import OkClient, RetryPolicy, sign
from incident.sources.ok.config import read_ok_config as read_config
from incident.sources.ok.links import comment_link, post_link, private_chat_link
from incident.sources.ok.source import OkSource

__all__ = [
    "OkClient",
    "OkSource",
    "RetryPolicy",
    "build",
    "comment_link",
    "post_link",
    "private_chat_link",
    "read_config",
    "sign",
]
