"""Telegram messages to our vocabulary: which message is a post, a comment, an answer.

In a channel's discussion group every channel post arrives as an auto-forwarded copy (a post,
not a comment); a comment replies to that copy (its thread top), a reply in a thread replies to a
comment and keeps the copy as ``reply_to_top_id``. ``Threads`` remembers which copy stands for
which channel post and which comment each reply hangs from.

Cursor keys (values are decimal strings):
- ``min_id:<group id>``: the newest group message the sweep has passed (the sweep's position;
  keyed by the group, so linking another discussion group starts afresh).
- ``copy:<group id>:<copy id>``: the channel post that group message is a copy of.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from incident.models import ChangeKind, Comment, CommentChange, Platform
from incident.sources.telegram.gateway import TgChats, TgMessage


def min_id_key(group_id: int) -> str:
    return f"min_id:{group_id}"


def copy_key(group_id: int, copy_id: int) -> str:
    return f"copy:{group_id}:{copy_id}"


def author_id(message: TgMessage) -> str:
    """Users by their id; channels in Telegram's marked form (``-100<id>``)."""
    if message.sender_id is None:
        return ""
    return f"-100{message.sender_id}" if message.sender_is_channel else str(message.sender_id)


def raw(message: TgMessage) -> dict[str, Any]:
    return {
        "chat_id": message.chat_id,
        "id": message.id,
        "date": message.date.isoformat(),
        "sender_id": message.sender_id,
        "sender_is_channel": message.sender_is_channel,
        "post_author": message.post_author,
        "reply_to_msg_id": message.reply_to_msg_id,
        "reply_to_top_id": message.reply_to_top_id,
    }


@dataclass(frozen=True, slots=True)
class Reading:
    """What one group message turned out to be."""

    change: CommentChange | None = None  # a comment (or an answer by the community)
    copy: tuple[int, int] | None = None  # (copy id, channel post id) for a post's group copy
    unknown_top: bool = False  # replies to a message we cannot tie to a post


class Threads:
    """Group copy -> channel post, and comment -> its thread's top-level comment.

    The copies are also stored as cursors (so a restarted worker still ties comments to old
    posts); the comment roots live in memory only: after a restart a reply to a reply older than
    the restart names its parent as the thread root (see README, Telegram). Shared by the live
    listener and the sweep, hence the lock.
    """

    MAX_ROOTS = 200_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._posts: dict[tuple[int, int], int] = {}
        self._roots: dict[int, int] = {}

    def load(self, group_id: int, cursors: Mapping[str, str]) -> None:
        prefix = f"copy:{group_id}:"
        with self._lock:
            for key, value in cursors.items():
                if key.startswith(prefix) and value.isdigit() and key[len(prefix) :].isdigit():
                    self._posts[(group_id, int(key[len(prefix) :]))] = int(value)

    def read(
        self, chats: TgChats, community: str, m: TgMessage, *, send_as_channel: bool
    ) -> Reading:
        """Classify ``m`` (a message of the discussion group) and remember what it teaches."""
        if m.is_copy_of_post(chats.channel_id):
            assert m.fwd_post_id is not None
            with self._lock:
                self._posts[(chats.group_id, m.id)] = m.fwd_post_id
            return Reading(copy=(m.id, m.fwd_post_id))
        top = m.thread_top
        if top is None:
            return Reading()  # a message to the group itself, not under a post
        with self._lock:
            post_id = self._posts.get((chats.group_id, top))
            if post_id is None:
                return Reading(unknown_top=True)
            parent = m.reply_to_msg_id
            if parent is None or parent == top:
                reply_to = root = None
                self._remember(m.id, m.id)
            else:
                reply_to = parent
                root = self._roots.get(parent, parent)
                self._remember(m.id, root)
        comment = Comment(
            platform=Platform.TELEGRAM,
            community=community,
            post_id=str(post_id),
            external_id=str(m.id),
            author_id=author_id(m),
            text=m.text,
            created_at=m.date,
            from_community=is_community(chats, m, send_as_channel=send_as_channel),
            reply_to_id=str(reply_to) if reply_to is not None else None,
            thread_root_id=str(root) if root is not None else None,
            author_name=m.sender_name or m.post_author,
            raw=raw(m),
        )
        change = CommentChange(
            kind=ChangeKind.NEW,
            platform=Platform.TELEGRAM,
            community=community,
            external_id=comment.external_id,
            post_id=comment.post_id,
            comment=comment,
        )
        return Reading(change=change)

    def _remember(self, message_id: int, root: int) -> None:
        if len(self._roots) >= self.MAX_ROOTS:
            for old in sorted(self._roots)[: self.MAX_ROOTS // 4]:
                del self._roots[old]
        self._roots[message_id] = root


def is_community(chats: TgChats, m: TgMessage, *, send_as_channel: bool) -> bool:
    """The committee's own message: sent as the channel (or signed by an admin as it), sent as
    the group by an anonymous admin, or, when replies go out from the account itself, sent by
    that account."""
    if m.sender_is_channel:
        return m.sender_id in (chats.channel_id, chats.group_id)
    return not send_as_channel and m.sender_id == chats.self_id
