"""The narrow seam between the Telegram source and Telegram: our own plain types, one Protocol.

The source needs six things from Telegram and nothing else: connect (resolving the channel and
its linked discussion group), read the group's history after a message id, read its most recent
messages, wait for live messages, send a reply, close. ``TelethonGateway`` implements them over a
real ``TelegramClient``; ``incident.sources.fakes.telegram_fake.FakeTelegram`` in memory.

Ids are Telegram's bare ids (``PeerChannel.channel_id``, ``PeerUser.user_id``: positive), never
the "marked" ``-100...`` form. Errors are the source contract's own classes
(``incident.sources.base``): a gateway translates its library's errors where they arise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class TgChats:
    """What ``connect`` resolved: the channel, its linked discussion group, our own account."""

    channel_id: int
    group_id: int
    self_id: int
    channel_username: str | None = None


@dataclass(frozen=True, slots=True)
class TgMessage:
    """One message of the discussion group, as the source needs it.

    ``sender_is_channel``: the message was sent as a channel (``from_id`` is a ``PeerChannel``:
    the channel itself through ``send_as``, an auto-forwarded post, or an anonymous admin posting
    as the group); ``sender_id`` is then that channel's id. ``fwd_channel_id`` and ``fwd_post_id``
    are set on a forwarded channel post (``fwd_from.from_id`` / ``saved_from_peer`` and
    ``channel_post`` / ``saved_from_msg_id``): the channel's own post auto-forwarded into its
    discussion group is a post, not a comment. ``date`` is aware UTC; ``text`` is "" for a
    message without text (a photo, a sticker).
    """

    chat_id: int
    id: int
    date: datetime
    text: str
    sender_id: int | None = None
    sender_is_channel: bool = False
    sender_name: str | None = None
    post_author: str | None = None  # the signature of a signed channel message
    reply_to_msg_id: int | None = None
    reply_to_top_id: int | None = None
    fwd_channel_id: int | None = None
    fwd_post_id: int | None = None

    @property
    def thread_top(self) -> int | None:
        """The message this one's thread hangs from (core.telegram.org/api/threads): in a
        discussion group, the group copy of a channel post."""
        return self.reply_to_top_id or self.reply_to_msg_id

    def is_copy_of_post(self, channel_id: int) -> bool:
        """Whether this is ``channel_id``'s post auto-forwarded into its discussion group."""
        return self.fwd_channel_id == channel_id and self.fwd_post_id is not None


class TelegramGateway(Protocol):
    """Telegram as the source sees it: one channel and its discussion group.

    Every method may raise ``TransientSourceError`` (a flood wait longer than the gateway's
    sleep threshold, with ``retry_after`` = its seconds; a lost connection; a server error) or
    ``PermanentSourceError`` (the session is revoked or unregistered, the account is no admin,
    the channel has no discussion group). ``send_reply`` also raises ``ReplyRejectedError``
    when Telegram refuses that one message. Implementations are safe to call from two threads
    (the worker's live listener and a sweep).
    """

    def connect(self) -> TgChats:
        """Connect (once; again after ``close``) and resolve the channel and its group."""
        ...

    def history(self, min_id: int, limit: int) -> list[TgMessage]:
        """Up to ``limit`` messages of the discussion group with ids above ``min_id``, oldest
        first (``iter_messages(group, min_id=..., reverse=True)``)."""
        ...

    def recent(self, limit: int) -> list[TgMessage]:
        """The group's ``limit`` newest messages, newest first."""
        ...

    def wait_new(self, timeout: float) -> list[TgMessage]:
        """Messages pushed by Telegram since the last call (``events.NewMessage`` on the group),
        waiting up to ``timeout`` seconds for the first one; [] when none came. After a crash
        Telegram may push a message again: callers dedupe on (chat_id, id)."""
        ...

    def send_reply(self, text: str, reply_to: int, send_as_channel: bool) -> int:
        """Send ``text`` to the group in reply to message ``reply_to`` (as the channel when
        ``send_as_channel``, else as the account); the new message's id."""
        ...

    def close(self) -> None:
        """Disconnect; ``connect`` may be called again later."""
        ...
