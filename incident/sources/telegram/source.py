"""The Telegram source: the comments of one channel, read in its linked discussion group.

- **Sweep** (the source of truth): the group's history after the stored ``min_id``, oldest
  first, a page per batch, each batch committed with the new ``min_id``. The channel's posts
  arrive as auto-forwarded copies: they are remembered (copy id -> channel post id, also as
  cursors) and are not comments; a comment's ``post_id`` is the channel post's id.
- **Live**: ``listen_once`` takes what ``events.NewMessage`` pushed; each change carries
  ``"<group id>:<message id>"`` as its event id, so a message Telegram pushes again after a
  crash is stored once. The live path never moves ``min_id`` (a message missed live is still
  swept). The first listen of an instance, and a live comment under a post we cannot place,
  ask for a catch-up sweep.
- **Replies**: ``send_message(group, text, reply_to=<comment>, send_as=<channel>)``. Telegram
  has no idempotency key: before sending, the source reads the group's most recent messages
  and, if the community already replied to that comment with that text (a send whose result
  was lost: the worker died or the connection broke after Telegram accepted it), returns that
  message instead of sending again. A reply older than ``REPLY_LOOKBACK`` messages is not seen
  by the check.

Errors come from the gateway already classified; transient ones without a ``retry_after`` are
retried here a few times (bounded, exponential, with jitter) before they reach the worker.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TypeVar

from incident.models import Batch, CommentChange, OutgoingReply, Platform, PostedReply
from incident.sources.base import ClosedOnExit, ReplyRejectedError, TransientSourceError
from incident.sources.telegram.gateway import TelegramGateway, TgChats, TgMessage
from incident.sources.telegram.links import comment_link
from incident.sources.telegram.wire import Threads, copy_key, is_community, min_id_key

log = logging.getLogger(__name__)

T = TypeVar("T")

PAGE_SIZE = 100  # messages.getHistory's maximum
REPLY_LOOKBACK = 200  # newest group messages searched for a reply whose result was lost


@dataclass(frozen=True, slots=True)
class Retry:
    """Bounded retry of transient faults that name no wait of their own."""

    attempts: int = 3
    initial: float = 1.0
    maximum: float = 30.0


class TelegramSource(ClosedOnExit):
    """A ``Source`` for one Telegram channel's comments, through a ``TelegramGateway``."""

    def __init__(
        self,
        *,
        name: str,
        community: str,
        gateway: TelegramGateway,
        send_as_channel: bool = True,
        listen_wait: float = 25.0,
        retry: Retry = Retry(),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._name = name
        self._community = community
        self._gateway = gateway
        self._send_as_channel = send_as_channel
        self._listen_wait = listen_wait
        self._retry = retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._threads = Threads()
        self._chats: TgChats | None = None
        self._listened = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def platform(self) -> Platform:
        return Platform.TELEGRAM

    def close(self) -> None:
        self._gateway.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _call(self, work: Callable[[], T]) -> T:
        attempt = 1
        while True:
            try:
                return work()
            except TransientSourceError as exc:
                if exc.retry_after is not None or attempt >= self._retry.attempts:
                    raise
                ceiling = min(self._retry.maximum, self._retry.initial * 2 ** (attempt - 1))
                log.info(
                    "telegram call retried",
                    extra={"source": self._name, "attempt": attempt, "reason": str(exc)},
                )
                self._sleep(self._rng.uniform(ceiling / 2, ceiling))
                attempt += 1

    def _connected(self, cursors: Mapping[str, str]) -> TgChats:
        chats = self._chats
        if chats is None:
            chats = self._call(self._gateway.connect)
            self._chats = chats
        self._threads.load(chats.group_id, cursors)
        return chats

    def _read(
        self, chats: TgChats, messages: list[TgMessage], *, live: bool
    ) -> tuple[list[CommentChange], dict[str, str], bool]:
        changes: list[CommentChange] = []
        copies: dict[str, str] = {}
        unknown = False
        for m in messages:
            if m.chat_id != chats.group_id:
                continue
            reading = self._threads.read(
                chats, self._community, m, send_as_channel=self._send_as_channel
            )
            if reading.copy is not None:
                copies[copy_key(chats.group_id, reading.copy[0])] = str(reading.copy[1])
            elif reading.unknown_top:
                unknown = True
                log.debug(
                    "telegram message not under a known post",
                    extra={"source": self._name, "message_id": m.id, "top": m.thread_top},
                )
            elif reading.change is not None:
                change = reading.change
                if live:
                    change = replace(change, event_id=f"{m.chat_id}:{m.id}")
                changes.append(change)
        return changes, copies, unknown

    # -- the contract -----------------------------------------------------------------------

    def sweep(self, cursors: Mapping[str, str], *, full: bool = False) -> Iterator[Batch]:
        calls = 0 if self._chats is not None else 1
        chats = self._connected(cursors)
        key = min_id_key(chats.group_id)
        raw_min = cursors.get(key, "0")
        min_id = int(raw_min) if raw_min.isdigit() else 0
        while True:
            page = self._call(partial(self._gateway.history, min_id, PAGE_SIZE))
            calls += 1
            if not page:
                break
            changes, copies, _ = self._read(chats, page, live=False)
            min_id = max(min_id, *(m.id for m in page))
            yield Batch(
                changes=tuple(changes),
                cursors={key: str(min_id), **copies},
                api_calls=calls,
            )
            calls = 0
            if len(page) < PAGE_SIZE:
                break
        if calls:
            yield Batch(api_calls=calls)

    def listen_once(self, cursors: Mapping[str, str]) -> Batch:
        chats = self._connected(cursors)
        first = not self._listened
        self._listened = True
        messages = self._call(lambda: self._gateway.wait_new(self._listen_wait))
        changes, copies, unknown = self._read(chats, messages, live=True)
        return Batch(
            changes=tuple(changes),
            cursors=copies,
            needs_sweep=first or unknown,
            api_calls=0,
        )

    def post_reply(self, reply: OutgoingReply) -> PostedReply:
        if reply.community != self._community:
            raise ReplyRejectedError(
                f"Ответ адресован сообществу {reply.community}, а источник {self._name} "
                f"работает с каналом {self._community}."
            )
        if not reply.reply_to_id.isdigit():
            raise ReplyRejectedError("Неверный номер комментария для ответа в Telegram.")
        target = int(reply.reply_to_id)
        chats = self._connected({})
        sent = self._earlier_reply(chats, target, reply.text)
        if sent is None:
            sent = self._gateway.send_reply(reply.text, target, self._send_as_channel)
        else:
            log.info(
                "telegram reply found already sent",
                extra={"source": self._name, "message_id": sent, "outbox": reply.outbox_id},
            )
        url = comment_link(self._community, reply.post_id, str(sent), None)
        return PostedReply(external_id=str(sent), url=url)

    def _earlier_reply(self, chats: TgChats, target: int, text: str) -> int | None:
        """Our own message replying to ``target`` with ``text`` among the newest messages."""
        wanted = text.strip()
        for m in self._call(lambda: self._gateway.recent(REPLY_LOOKBACK)):
            if (
                m.chat_id == chats.group_id
                and m.reply_to_msg_id == target
                and m.text.strip() == wanted
                and (
                    is_community(chats, m, send_as_channel=self._send_as_channel)
                    or (not m.sender_is_channel and m.sender_id == chats.self_id)
                )
            ):
                return m.id
        return None
