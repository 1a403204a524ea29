"""An in-memory Telegram: one channel, its discussion group, and the ``TelegramGateway`` on it.

The world behaves as Telegram does for a channel with comments: a post published in the channel
is auto-forwarded into the discussion group (a copy with ``fwd_from`` naming the channel and the
post); a citizen's comment replies to that copy; a reply in a thread replies to a comment and
keeps the copy as ``reply_to_top_id``; the channel answers as itself (``send_as``). Messages can
be edited (history shows the new text) and deleted (they vanish from history). Dates: one
second apart from ``start`` (the tests'), or ``clock()`` when given (the demo's wall clock), or
``at`` where a message is added with one (the demo's seeded past).

Faults: ``inject`` makes the next calls fail: a flood wait of N seconds (slept through when
under ``flood_sleep_threshold``, as Telethon does, else ``TransientSourceError`` with
``retry_after``), a lost connection, a server error; ``revoke`` ends the session for good
(``PermanentSourceError``), ``demote`` takes the account's admin rights; ``lose_next_result``
lets the next send succeed but breaks the connection before its answer arrives.

Errors are Telethon's own, raised through the real gateway's ``translate_error``, so the fake
says what the real gateway would. Thread-safe: one lock guards the world; live messages wait
in a condition-guarded queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from telethon import errors

from incident.sources.telegram.gateway import TgChats, TgMessage
from incident.sources.telegram.telethon_gateway import translate_error

FaultKind = Literal["flood_wait", "connection", "server"]

CITIZENS = {1: (9001, "Анна Петрова"), 2: (9002, "Борис Иванов"), 3: (9003, "Вера Смирнова")}


@dataclass(frozen=True, slots=True)
class SentReply:
    """A message the gateway sent for the source."""

    id: int
    reply_to: int
    text: str
    as_channel: bool


class FakeTelegram:
    """The world and the gateway in one object (the gateway the source is given)."""

    def __init__(
        self,
        *,
        channel_id: int = 1_500_000_001,
        group_id: int = 1_600_000_002,
        self_id: int = 700_001,
        channel_username: str | None = "committee_news",
        flood_sleep_threshold: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        start: datetime | None = None,
        clock: Callable[[], datetime] | None = None,
        citizens: Mapping[int, tuple[int, str]] = CITIZENS,
    ) -> None:
        self.chats = TgChats(channel_id, group_id, self_id, channel_username)
        self.citizens = dict(citizens)
        self._clock = clock
        self.flood_sleep_threshold = flood_sleep_threshold
        self._sleep = sleep
        self._now = start or datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
        self._lock = threading.RLock()
        self._arrived = threading.Condition(self._lock)
        self._group: dict[int, TgMessage] = {}
        self._next_group_id = 1
        self._next_post_id = 1
        self._copies: dict[int, int] = {}  # channel post id -> group copy id
        self._live: list[TgMessage] = []
        self._faults: list[tuple[FaultKind, float]] = []
        self._revoked = False
        self._admin = True
        self._lose_next = False
        self.connected = False
        self.connects = 0
        self.calls = 0
        self.slept: list[float] = []
        self.sent: list[SentReply] = []

    # -- the world --------------------------------------------------------------------------

    def _tick(self, at: datetime | None = None) -> datetime:
        """A new message's date: ``at`` if given, else the clock's time (the wall clock in the
        demo), else one second after the previous message (the tests' default)."""
        if at is not None:
            return at
        if self._clock is not None:
            return self._clock()
        self._now += timedelta(seconds=1)
        return self._now

    def _add(self, message: TgMessage) -> TgMessage:
        self._group[message.id] = message
        if self.connected:
            self._live.append(message)
            self._arrived.notify_all()
        return message

    def _new_id(self) -> int:
        new_id = self._next_group_id
        self._next_group_id += 1
        return new_id

    def publish_post(self, text: str, *, at: datetime | None = None) -> int:
        """The channel publishes a post; Telegram forwards it into the group. The post's id."""
        with self._lock:
            post_id = self._next_post_id
            self._next_post_id += 1
            copy = TgMessage(
                chat_id=self.chats.group_id,
                id=self._new_id(),
                date=self._tick(at),
                text=text,
                sender_id=self.chats.channel_id,
                sender_is_channel=True,
                fwd_channel_id=self.chats.channel_id,
                fwd_post_id=post_id,
            )
            self._copies[post_id] = copy.id
            self._add(copy)
            return post_id

    def copy_of(self, post_id: int) -> int:
        """The group copy's id of channel post ``post_id``."""
        with self._lock:
            return self._copies[post_id]

    def post_of_copy(self, copy_id: int) -> int | None:
        """The channel post whose group copy is ``copy_id``; None if it is no post's copy."""
        with self._lock:
            return next((p for p, c in self._copies.items() if c == copy_id), None)

    def _reply_header(self, post_id: int, reply_to: int | None) -> tuple[int, int | None]:
        copy = self._copies[post_id]
        if reply_to is None or reply_to == copy:
            return copy, None
        if reply_to not in self._group:
            raise KeyError(f"no message {reply_to} in the group")
        return reply_to, copy

    def comment(
        self,
        post_id: int,
        text: str,
        *,
        author: int = 1,
        reply_to: int | None = None,
        at: datetime | None = None,
    ) -> int:
        """Citizen ``author`` (a key of ``citizens``: 1, 2, 3 by default) comments under the
        post or replies to a comment."""
        user_id, name = self.citizens[author]
        with self._lock:
            msg_id, top = self._reply_header(post_id, reply_to)
            return self._add(
                TgMessage(
                    chat_id=self.chats.group_id,
                    id=self._new_id(),
                    date=self._tick(at),
                    text=text,
                    sender_id=user_id,
                    sender_name=name,
                    reply_to_msg_id=msg_id,
                    reply_to_top_id=top,
                )
            ).id

    def channel_message(
        self,
        post_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        signed: str | None = None,
        at: datetime | None = None,
    ) -> int:
        """The committee writes as the channel in the post's comments (in Telegram's app)."""
        with self._lock:
            msg_id, top = self._reply_header(post_id, reply_to)
            return self._add(
                TgMessage(
                    chat_id=self.chats.group_id,
                    id=self._new_id(),
                    date=self._tick(at),
                    text=text,
                    sender_id=self.chats.channel_id,
                    sender_is_channel=True,
                    sender_name="Комитет",
                    post_author=signed,
                    reply_to_msg_id=msg_id,
                    reply_to_top_id=top,
                )
            ).id

    def group_chatter(self, text: str, *, author: int = 1) -> int:
        """A message to the discussion group itself, under no post."""
        user_id, name = self.citizens[author]
        with self._lock:
            return self._add(
                TgMessage(
                    chat_id=self.chats.group_id,
                    id=self._new_id(),
                    date=self._tick(),
                    text=text,
                    sender_id=user_id,
                    sender_name=name,
                )
            ).id

    def edit(self, message_id: int, text: str) -> None:
        with self._lock:
            self._group[message_id] = replace(self._group[message_id], text=text)

    def delete(self, message_id: int) -> None:
        with self._lock:
            del self._group[message_id]

    def replay(self, *message_ids: int) -> None:
        """Telegram pushes these messages again (as after a crash before its state was saved)."""
        with self._lock:
            self._live.extend(self._group[i] for i in message_ids)
            self._arrived.notify_all()

    def message(self, message_id: int) -> TgMessage:
        with self._lock:
            return self._group[message_id]

    # -- faults -----------------------------------------------------------------------------

    def inject(self, kind: FaultKind, times: int = 1, *, seconds: float = 0.0) -> None:
        with self._lock:
            self._faults.extend([(kind, seconds)] * times)

    def revoke(self) -> None:
        """The session is terminated (from another device, or the auth key is unregistered)."""
        with self._lock:
            self._revoked = True

    def demote(self) -> None:
        """The account is no longer an admin of the channel."""
        with self._lock:
            self._admin = False

    def lose_next_result(self) -> None:
        with self._lock:
            self._lose_next = True

    def _enter(self) -> None:
        """Every call: count it, then fail as injected."""
        self.calls += 1
        if self._revoked:
            raise translate_error(errors.AuthKeyUnregisteredError(request=None))
        while self._faults:
            kind, seconds = self._faults.pop(0)
            if kind == "flood_wait":
                if seconds <= self.flood_sleep_threshold:
                    self.slept.append(seconds)
                    self._sleep(seconds)
                    continue
                raise translate_error(errors.FloodWaitError(request=None, capture=int(seconds)))
            if kind == "connection":
                raise translate_error(ConnectionError("connection reset by peer"))
            raise translate_error(errors.ServerError(request=None, message="INTERNAL", code=500))
        if not self._admin:
            raise translate_error(errors.ChatAdminRequiredError(request=None))

    # -- the gateway ------------------------------------------------------------------------

    def connect(self) -> TgChats:
        with self._lock:
            if not self.connected:
                self._enter()
                self.connected = True
                self.connects += 1
                self._live.clear()  # updates are pushed only to a connected client
            return self.chats

    def history(self, min_id: int, limit: int) -> list[TgMessage]:
        with self._lock:
            self._enter()
            ids = sorted(i for i in self._group if i > min_id)[:limit]
            return [self._group[i] for i in ids]

    def recent(self, limit: int) -> list[TgMessage]:
        with self._lock:
            self._enter()
            ids = sorted(self._group, reverse=True)[:limit]
            return [self._group[i] for i in ids]

    def wait_new(self, timeout: float) -> list[TgMessage]:
        with self._lock:
            self._enter()
            self._arrived.wait_for(lambda: bool(self._live), timeout)
            found, self._live = self._live, []
            return found

    def send_reply(self, text: str, reply_to: int, send_as_channel: bool) -> int:
        with self._lock:
            self._enter()
            target = self._group.get(reply_to)
            if target is None:
                raise translate_error(errors.MsgIdInvalidError(request=None), sending=True)
            top = target.reply_to_top_id or target.reply_to_msg_id or target.id
            as_channel = send_as_channel
            sent = self._add(
                TgMessage(
                    chat_id=self.chats.group_id,
                    id=self._new_id(),
                    date=self._tick(),
                    text=text,
                    sender_id=self.chats.channel_id if as_channel else self.chats.self_id,
                    sender_is_channel=as_channel,
                    reply_to_msg_id=reply_to,
                    reply_to_top_id=top,
                )
            )
            self.sent.append(SentReply(sent.id, reply_to, text, as_channel))
            if self._lose_next:
                self._lose_next = False
                raise translate_error(ConnectionError("connection lost before the answer"))
            return sent.id

    def close(self) -> None:
        with self._lock:
            self.connected = False
            self._live.clear()
