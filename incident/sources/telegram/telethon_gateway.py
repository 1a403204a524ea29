"""``TelegramGateway`` over a real Telethon ``TelegramClient`` (an MTProto user account).

Telethon is asyncio; the worker is threads. The gateway owns one event loop in a thread of its
own, and every method hands a coroutine to it and waits for the result
(``run_coroutine_threadsafe``), so the live listener and a sweep can call it together. Live
messages come from an ``events.NewMessage(chats=[group])`` handler into a thread-safe queue.

Flood waits: Telethon itself sleeps through a ``FloodWaitError`` of up to
``flood_sleep_threshold`` seconds; a longer one reaches us and becomes a
``TransientSourceError`` with ``retry_after`` = its seconds. Texts are sent and read without
a parse mode (``parse_mode=None``), so what staff wrote is what Telegram shows and what the
lost-reply check compares.

``to_tg_message`` is the one conversion from Telethon's objects to ours; it is pure and tested on
real Telethon objects built offline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable, Coroutine
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

from telethon import TelegramClient, errors, events, functions, types

from incident.sources.base import (
    PermanentSourceError,
    ReplyRejectedError,
    SourceError,
    TransientSourceError,
)
from incident.sources.telegram.gateway import TgChats, TgMessage

T = TypeVar("T")
log = logging.getLogger(__name__)

LOGIN_HINT = "Войдите заново: `incident telegram login --source <имя>`."
_SESSION_GONE = (
    errors.AuthKeyUnregisteredError,
    errors.SessionRevokedError,
    errors.SessionExpiredError,
    errors.UserDeactivatedError,
    errors.UserDeactivatedBanError,
    errors.AuthKeyDuplicatedError,
    errors.UnauthorizedError,
)
_NO_RIGHTS = (
    errors.ChatAdminRequiredError,
    errors.ChannelPrivateError,
    errors.ChatWriteForbiddenError,
    errors.SendAsPeerInvalidError,
    errors.ForbiddenError,
)


def _channel_of(peer: Any) -> int | None:
    return int(peer.channel_id) if isinstance(peer, types.PeerChannel) else None


def _display_name(entity: Any) -> str | None:
    if isinstance(entity, types.User):
        name = " ".join(p for p in (entity.first_name, entity.last_name) if p)
        return name or entity.username or None
    if isinstance(entity, (types.Channel, types.Chat)):
        return str(entity.title) or None
    return None


def to_tg_message(message: Any) -> TgMessage | None:
    """A Telethon message of a channel or supergroup as our ``TgMessage``; None for what is no
    message to read (``MessageService``, ``MessageEmpty``, a message outside a channel)."""
    if not isinstance(message, types.Message):
        return None
    chat_id = _channel_of(message.peer_id)
    if chat_id is None:
        return None
    sender_id: int | None = None
    is_channel = False
    if isinstance(message.from_id, types.PeerUser):
        sender_id = int(message.from_id.user_id)
    elif isinstance(message.from_id, types.PeerChannel):
        sender_id, is_channel = int(message.from_id.channel_id), True
    elif message.from_id is None and message.post:
        sender_id, is_channel = chat_id, True  # a channel's own post carries no from_id
    reply = message.reply_to
    reply_to_msg_id = reply_to_top_id = None
    if isinstance(reply, types.MessageReplyHeader):
        reply_to_msg_id, reply_to_top_id = reply.reply_to_msg_id, reply.reply_to_top_id
    fwd_channel = fwd_post = None
    fwd = message.fwd_from
    if isinstance(fwd, types.MessageFwdHeader):
        fwd_channel = _channel_of(fwd.from_id) or _channel_of(fwd.saved_from_peer)
        fwd_post = fwd.channel_post or fwd.saved_from_msg_id
    date = message.date
    date = date.replace(tzinfo=UTC) if date.tzinfo is None else date.astimezone(UTC)
    return TgMessage(
        chat_id=chat_id,
        id=int(message.id),
        date=date,
        text=message.message or "",
        sender_id=sender_id,
        sender_is_channel=is_channel,
        sender_name=_display_name(getattr(message, "sender", None)),
        post_author=message.post_author,
        reply_to_msg_id=reply_to_msg_id,
        reply_to_top_id=reply_to_top_id,
        fwd_channel_id=fwd_channel if fwd_post is not None else None,
        fwd_post_id=int(fwd_post) if fwd_channel is not None and fwd_post is not None else None,
    )


def translate_error(exc: BaseException, *, sending: bool = False) -> SourceError:
    """A Telethon (or network) error as the source contract's error class."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, errors.FloodError):
        seconds = float(getattr(exc, "seconds", 0) or 0)
        return TransientSourceError(
            f"Telegram просит подождать {seconds:.0f} с (FloodWait)", retry_after=seconds or None
        )
    if isinstance(exc, _SESSION_GONE):
        return PermanentSourceError(
            f"Сессия Telegram недействительна ({type(exc).__name__}). {LOGIN_HINT}"
        )
    if sending and isinstance(exc, errors.MsgIdInvalidError):
        return ReplyRejectedError("Комментарий, на который отвечаем, удалён из Telegram.")
    if isinstance(exc, _NO_RIGHTS):
        return PermanentSourceError(
            f"У аккаунта нет прав в канале или его группе обсуждения ({type(exc).__name__}). "
            "Аккаунт должен быть администратором канала и группы и иметь право писать от "
            "имени канала (или выключите send_as_channel)."
        )
    if isinstance(exc, (errors.ServerError, errors.TimedOutError)):
        return TransientSourceError(f"Ошибка сервера Telegram ({type(exc).__name__})")
    if sending and isinstance(exc, errors.BadRequestError):
        return ReplyRejectedError(f"Telegram отклонил ответ ({exc.message}).")
    if isinstance(exc, errors.RPCError):
        return PermanentSourceError(f"Telegram отказал: {type(exc).__name__} ({exc.message}).")
    if isinstance(exc, (ConnectionError, OSError, asyncio.TimeoutError, TimeoutError)):
        return TransientSourceError(f"Нет связи с Telegram ({type(exc).__name__})")
    return TransientSourceError(f"Неожиданная ошибка Telegram: {type(exc).__name__}: {exc}")


class TelethonGateway:
    """The real gateway: one ``TelegramClient`` on a session file, one channel."""

    def __init__(
        self,
        *,
        channel: str,
        session_path: Path,
        api_id: int,
        api_hash: str,
        flood_sleep_threshold: int = 60,
        call_timeout: float = 120.0,
    ) -> None:
        # A bare number is a channel's id (a plain int would mean a user to Telethon).
        self._channel: Any = types.PeerChannel(int(channel)) if channel.isdigit() else channel
        self._session_path = session_path
        self._api_id = api_id
        self._api_hash = api_hash
        self._flood_sleep_threshold = flood_sleep_threshold
        self._call_timeout = call_timeout
        self._lock = threading.Lock()
        self._connecting = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._group: Any = None
        self._channel_entity: Any = None
        self._chats: TgChats | None = None
        self._live: queue.Queue[TgMessage] = queue.Queue()

    # -- the loop thread --------------------------------------------------------------------

    def _run(self, make: Callable[[], Coroutine[Any, Any, T]], *, sending: bool = False) -> T:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="telethon", daemon=True
                )
                self._thread.start()
            loop = self._loop
        future = asyncio.run_coroutine_threadsafe(make(), loop)
        try:
            return future.result(self._call_timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TransientSourceError("Telegram не ответил вовремя") from None
        except Exception as exc:
            raise translate_error(exc, sending=sending) from exc

    # -- the protocol -----------------------------------------------------------------------

    def connect(self) -> TgChats:
        with self._connecting:  # the listener and a sweep may both be first
            if self._chats is None:
                self._chats = self._run(self._connect)
            return self._chats

    async def _connect(self) -> TgChats:
        if not self._session_path.exists():
            raise PermanentSourceError(
                f"Нет файла сессии Telegram {self._session_path}. {LOGIN_HINT}"
            )
        client = TelegramClient(
            str(self._session_path),
            self._api_id,
            self._api_hash,
            flood_sleep_threshold=self._flood_sleep_threshold,
        )
        client.parse_mode = None
        try:
            return await self._resolve(client)
        except BaseException:
            await client.disconnect()
            raise

    async def _resolve(self, client: Any) -> TgChats:
        await client.connect()
        self._client = client
        if not await client.is_user_authorized():
            raise PermanentSourceError(f"Сессия Telegram не авторизована. {LOGIN_HINT}")
        me = await client.get_me(input_peer=True)
        channel = await client.get_entity(self._channel)
        if not isinstance(channel, types.Channel) or not channel.broadcast:
            raise PermanentSourceError(f"{self._channel!r} в Telegram не канал.")
        full = await client(functions.channels.GetFullChannelRequest(channel))
        linked = full.full_chat.linked_chat_id
        if not linked:
            raise PermanentSourceError(
                f"У канала {self._channel!r} нет группы обсуждения: комментарии выключены."
            )
        group = next((c for c in full.chats if c.id == linked), None)
        if group is None:
            group = await client.get_entity(types.PeerChannel(linked))
        if not isinstance(group, types.Channel):
            raise PermanentSourceError(f"Группа обсуждения канала {self._channel!r} недоступна.")
        self._channel_entity, self._group = channel, group
        client.add_event_handler(self._on_new_message, events.NewMessage(chats=[group]))
        return TgChats(
            channel_id=int(channel.id),
            group_id=int(group.id),
            self_id=int(me.user_id),
            channel_username=channel.username,
        )

    async def _on_new_message(self, event: Any) -> None:
        converted = to_tg_message(event.message)
        if converted is not None:
            self._live.put(converted)

    def history(self, min_id: int, limit: int) -> list[TgMessage]:
        self.connect()

        async def read() -> list[TgMessage]:
            found = self._client.iter_messages(
                self._group, min_id=min_id, reverse=True, limit=limit
            )
            return [m for m in [to_tg_message(x) async for x in found] if m is not None]

        return self._run(read)

    def recent(self, limit: int) -> list[TgMessage]:
        self.connect()

        async def read() -> list[TgMessage]:
            found = self._client.iter_messages(self._group, limit=limit)
            return [m for m in [to_tg_message(x) async for x in found] if m is not None]

        return self._run(read)

    def wait_new(self, timeout: float) -> list[TgMessage]:
        self.connect()
        try:
            first = self._live.get(timeout=timeout)
        except queue.Empty:
            return []
        found = [first]
        while True:
            try:
                found.append(self._live.get_nowait())
            except queue.Empty:
                return found

    def send_reply(self, text: str, reply_to: int, send_as_channel: bool) -> int:
        self.connect()

        async def send() -> int:
            sent = await self._client.send_message(
                self._group,
                text,
                reply_to=reply_to,
                parse_mode=None,
                link_preview=False,
                send_as=self._channel_entity if send_as_channel else None,
            )
            return int(sent.id)

        return self._run(send, sending=True)

    def close(self) -> None:
        with self._lock:
            loop, thread, client = self._loop, self._thread, self._client
            self._loop = self._thread = self._client = None
            self._chats = None
        if loop is None:
            return
        if client is not None:
            done = asyncio.run_coroutine_threadsafe(client.disconnect(), loop)
            try:
                done.result(10)
            except Exception as exc:  # closing: nothing left to do about it but say so
                log.info("telegram disconnect failed", extra={"error": repr(exc)})
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(10)
        loop.close()
