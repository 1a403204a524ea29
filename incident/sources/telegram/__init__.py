"""Telegram: a channel's comments, read in its linked discussion group through Telethon.

``source.py`` (the ``Source``), ``gateway.py`` (the narrow seam: our types and the Protocol),
``telethon_gateway.py`` (the seam over a real ``TelegramClient``), ``wire.py`` (messages ->
``Comment``: posts, comments, answers; cursor keys), ``config.py`` (its ``[[sources]]`` table),
``links.py`` (links to posts and comments), ``build.py`` (settings -> source). This package's
names below are what ``incident.sources.registry`` needs of a platform.
"""

from __future__ import annotations

from incident.sources.telegram.build import build_telegram_source as build
from incident.sources.telegram.config import read_telegram_config as read_config
from incident.sources.telegram.links import comment_link, post_link, private_chat_link
from incident.sources.telegram.source import TelegramSource

__all__ = [
    "TelegramSource",
    "build",
    "comment_link",
    "post_link",
    "private_chat_link",
    "read_config",
]
