"""Links to Telegram: a channel post, a comment under it, and where to write privately.

``community`` is the channel as configured: its public username (``t.me/<username>/<post>``),
or its numeric id for a private channel (``t.me/c/<id>/<post>``, which opens only for members).
A comment opens in the post's comments with ``?comment=<id>`` (the id in the discussion group).
"""

from __future__ import annotations

import re

_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")


def channel_path(community: str) -> str | None:
    """``<username>`` or ``c/<id>``; None when ``community`` is neither."""
    if community.isdigit():
        return f"c/{community}"
    if _USERNAME.fullmatch(community):
        return community
    return None


def post_link(community: str, post_id: str) -> str | None:
    """The channel post; None when the ids are not Telegram's."""
    path = channel_path(community)
    if path is None or not post_id.isdigit():
        return None
    return f"https://t.me/{path}/{post_id}"


def comment_link(community: str, post_id: str, comment: str, root: str | None) -> str | None:
    """The comment among the post's comments (Telegram links a comment, not its thread: ``root``
    is not needed)."""
    post = post_link(community, post_id)
    if post is None or not comment.isdigit():
        return None
    return f"{post}?comment={comment}"


def private_chat_link(community: str) -> str | None:
    """A channel has no private chat of its own: the config names a bot or an account
    (``private_chat``) when citizens should write privately; nothing to derive from the channel."""
    return None


def username_link(username: str) -> str:
    """``https://t.me/<username>`` for a bot or an account's username (``@`` dropped)."""
    return f"https://t.me/{username.lstrip('@')}"
