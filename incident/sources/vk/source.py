"""The VK source: wall comments of one community through the real ``vk_api`` library.

Two clients: a service (or user) token reads the wall (``wall.get`` / ``wall.getComments`` refuse
community tokens), the community token listens to Bots Long Poll and posts replies. Every call
goes through ``VkCaller`` (bounded retry, error classification, call counting).

Cursors (values are compact JSON):
- ``post:<id>``: ``{"n": comments.count, "last": last top-level id, "t": {"<top id>": [thread
  count, last reply id]}}`` (only threads with replies).
- ``longpoll``: ``{"ts": "..."}``; the key and server are asked for once per instance.

An ordinary sweep detects work through ``comments.count``: cheap (one call when nothing
changed), but blind to edits, to deletions and restores, and to a deletion and an addition that
cancel out. A full sweep (``full=True``: at start, after lost events, on a slow schedule) reads
each recent post completely and reports it as it is: an EDIT change per live comment (the
inbox stores what it lacks and applies changed texts) and a ``PostSnapshot`` (it deletes what
is gone and restores what came back).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jconfig  # type: ignore[import-untyped]
import requests
import vk_api
from vk_api.exceptions import CAPTCHA_ERROR_CODE, NEED_VALIDATION_CODE, TOO_MANY_RPS_CODE

from incident import metrics
from incident.models import (
    Batch,
    ChangeKind,
    Comment,
    CommentChange,
    OutgoingReply,
    Platform,
    PostedReply,
    PostSnapshot,
)
from incident.sources.base import (
    ClosedOnExit,
    PermanentSourceError,
    ReplyRejectedError,
    TransientSourceError,
)
from incident.sources.vk.calls import (
    ApiRefusal,
    HttpStatusError,
    RetryPolicy,
    TokenRole,
    VkCaller,
    apply_default_timeout,
)
from incident.sources.vk.links import comment_link
from incident.sources.vk.names import AuthorNames, NameCache
from incident.sources.vk.wire import (
    Names,
    PostCursor,
    as_int,
    dump,
    event_changes,
    thread_of,
    to_comment,
)

__all__ = ["RetryPolicy", "VkSource"]

log = logging.getLogger(__name__)

API_VERSION = "5.199"
PAGE_SIZE = 100  # wall.getComments maximum
THREAD_ITEMS = 10  # wall.getComments thread_items_count maximum
LONGPOLL_KEY = "longpoll"

# A full sweep judges deleted only comments written this long before it began reading: one
# written while it reads may be missing from what it read, and VK's clock may differ a little
# from ours. A younger deletion is seen by the long poll or the next full sweep.
SNAPSHOT_MARGIN = timedelta(seconds=10)

# A post whose comments vanished or closed between wall.get and wall.getComments: skip it.
_POST_GONE_CODES = frozenset({15, 100, 212})


class VkSource(ClosedOnExit):
    """A ``Source`` for the wall of one VK community."""

    def __init__(
        self,
        *,
        name: str,
        group_id: int,
        community_token: str,
        sweep_token: str,
        session_factory: Callable[[], requests.Session] = requests.Session,
        posts_per_sweep: int = 20,
        longpoll_wait: int = 25,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, shared safely
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        throttle: bool = True,
        http_timeout: float = 30.0,
        snapshot_margin: timedelta = SNAPSHOT_MARGIN,
        names: NameCache | None = None,
    ) -> None:
        """``names``: the author names cache to share with other sources (else its own)."""
        if group_id <= 0:
            raise ValueError("group_id is the community's positive id")
        if not 1 <= posts_per_sweep <= 100:
            raise ValueError("posts_per_sweep must be within 1..100")
        if not 1 <= longpoll_wait <= 90:
            raise ValueError("longpoll_wait must be within 1..90 seconds")
        self._name = name
        self._gid = group_id
        self._posts_per_sweep = posts_per_sweep
        self._longpoll_wait = longpoll_wait
        self._http_timeout = http_timeout
        self._snapshot_margin = snapshot_margin
        self._caller = VkCaller(retry=retry, sleep=sleep, rng=rng or random.Random())
        self._sessions: list[requests.Session] = []
        self._reader = self._client(vk_api.VkApi, sweep_token, session_factory(), throttle)
        self._community = self._client(
            vk_api.VkApiGroup, community_token, session_factory(), throttle
        )
        self._names = AuthorNames(self._caller, self._community, names)
        self._lp_session = self._own(session_factory())
        self._lp_key: str | None = None
        self._lp_server: str | None = None

    # -- plumbing ---------------------------------------------------------------------------

    def _own(self, session: requests.Session) -> requests.Session:
        apply_default_timeout(session, self._http_timeout)
        self._sessions.append(session)
        return session

    def _client(self, cls: Any, token: str, session: requests.Session, throttle: bool) -> Any:
        client = cls(
            token=token,
            api_version=API_VERSION,
            config=jconfig.MemoryConfig,
            session=self._own(session),
        )
        # vk_api retries error 6 by recursing without a bound and would hand captcha and
        # validation to handlers: drop them so VkCaller's bounded policy decides everything.
        for code in (TOO_MANY_RPS_CODE, CAPTCHA_ERROR_CODE, NEED_VALIDATION_CODE):
            client.error_handlers.pop(code, None)
        if not throttle:
            client.RPS_DELAY = 0.0
        return client

    def close(self) -> None:
        for session in self._sessions:
            session.close()

    @property
    def name(self) -> str:
        return self._name

    @property
    def platform(self) -> Platform:
        return Platform.VK

    def _read(self, method: str, values: Mapping[str, Any]) -> dict[str, Any]:
        return self._caller.method(self._reader, TokenRole.SWEEP, method, values)

    def _act(self, method: str, values: Mapping[str, Any]) -> dict[str, Any]:
        return self._caller.method(self._community, TokenRole.COMMUNITY, method, values)

    # -- sweep ------------------------------------------------------------------------------

    def sweep(self, cursors: Mapping[str, str], *, full: bool = False) -> Iterator[Batch]:
        start = self._caller.calls
        try:
            wall = self._read("wall.get", {"owner_id": -self._gid, "count": self._posts_per_sweep})
        except ApiRefusal as exc:
            raise PermanentSourceError(
                f"VK отказал в чтении стены сообщества {self._gid} (ошибка {exc.code}: "
                f"«{exc.vk_message}»). Проверьте group_id и права sweep_token."
            ) from exc
        posts = sorted(
            (p for p in wall.get("items") or () if as_int(p.get("id")) is not None),
            key=lambda p: int(p["id"]),
        )
        carried = self._caller.calls - start  # wall.get's calls go with the first batch
        for post in posts:
            post_id = int(post["id"])
            comments = post.get("comments")
            count = (as_int(comments.get("count")) if isinstance(comments, dict) else None) or 0
            key = f"post:{post_id}"
            cursor = PostCursor.parse(cursors.get(key))
            unchanged = cursor.n == count if cursor is not None else count == 0
            if unchanged and not (full and cursor is not None):
                continue
            before = self._caller.calls
            snapshots: tuple[PostSnapshot, ...] = ()
            try:
                if full:
                    changes, new_cursor, snapshot = self._read_post(post_id, count)
                    snapshots = (snapshot,)
                else:
                    changes, new_cursor = self._sweep_post(post_id, count, cursor)
            except ApiRefusal as exc:
                log.warning(
                    "vk post skipped",
                    extra={"post_id": post_id, "code": exc.code, "source": self._name},
                )
                if exc.code not in _POST_GONE_CODES:
                    raise PermanentSourceError(
                        f"VK отказал в чтении комментариев поста {post_id} (ошибка {exc.code}: "
                        f"«{exc.vk_message}»). Проверьте права sweep_token."
                    ) from exc
                carried += self._caller.calls - before
                continue
            yield Batch(
                changes=changes,
                cursors={key: new_cursor.dump()},
                api_calls=carried + self._caller.calls - before,
                snapshots=snapshots,
            )
            carried = 0
        if carried:
            yield Batch(api_calls=carried)

    def _fetch_level(
        self, post_id: int, names: Names, *, parent: int | None, start: int | None
    ) -> list[dict[str, Any]]:
        """All comments of one level from ``start`` (inclusive) on, ascending, paged by 100.

        Read from the beginning, the level's size (``current_level_count``) tells when the
        last page is in, so a level of exactly 100 comments costs one call, not two.
        """
        found: dict[int, dict[str, Any]] = {}
        from_beginning = start is None
        while True:
            values: dict[str, Any] = {
                "owner_id": -self._gid,
                "post_id": post_id,
                "sort": "asc",
                "count": PAGE_SIZE,
                "extended": 1,
                "preview_length": 0,  # VK cuts texts to 90 characters by default
            }
            if parent is None:
                values["thread_items_count"] = THREAD_ITEMS
            else:
                values["comment_id"] = parent
            if start:
                values["start_comment_id"] = start
            response = self._read("wall.getComments", values)
            names.add(response)
            page = [i for i in response.get("items") or () if as_int(i.get("id")) is not None]
            fresh = [i for i in page if int(i["id"]) not in found]
            for item in fresh:
                found[int(item["id"])] = item
            if len(page) < PAGE_SIZE or not fresh:
                break
            level_size = as_int(response.get("current_level_count"))
            alive = sum(1 for i in found.values() if not i.get("deleted"))
            if from_beginning and level_size is not None and alive >= level_size:
                break
            start = max(int(i["id"]) for i in page)
        return [found[i] for i in sorted(found)]

    def _sweep_post(
        self, post_id: int, count: int, cursor: PostCursor | None
    ) -> tuple[tuple[CommentChange, ...], PostCursor]:
        names = Names()
        known = PostCursor() if cursor is None else cursor
        threads = dict(known.threads)
        tops = self._fetch_level(post_id, names, parent=None, start=known.last or None)
        if cursor is not None:
            # Is all of the growth in comments.count explained by the tail we just read? If not,
            # a thread under an older top-level comment grew: read the whole top level again.
            seen = 0
            for top in tops:
                thread_count, _ = thread_of(top)
                if int(top["id"]) > known.last:
                    seen += (0 if top.get("deleted") else 1) + thread_count
                else:
                    seen += max(0, thread_count - threads.get(int(top["id"]), (0, 0))[0])
            if seen < count - cursor.n and known.last:
                tops = self._fetch_level(post_id, names, parent=None, start=None)

        new: dict[int, Comment] = {}
        for top in tops:
            top_id = int(top["id"])
            if top_id > known.last and not top.get("deleted"):
                new[top_id] = to_comment(self._gid, top, post_id, None, names)
            for reply in self._new_replies(post_id, top, threads, names):
                new[int(reply["id"])] = to_comment(self._gid, reply, post_id, top_id, names)

        last = max([known.last, *(int(t["id"]) for t in tops)])
        changes = tuple(
            CommentChange(
                kind=ChangeKind.NEW,
                platform=Platform.VK,
                community=str(self._gid),
                external_id=comment.external_id,
                post_id=str(post_id),
                comment=comment,
            )
            for _, comment in sorted(new.items())
        )
        return changes, PostCursor(n=count, last=last, threads=threads)

    def _read_post(
        self, post_id: int, count: int
    ) -> tuple[tuple[CommentChange, ...], PostCursor, PostSnapshot]:
        """Every comment of the post as it is now (a full sweep): an EDIT change per live
        comment, oldest first, the cursor after all of them, and the post's snapshot."""
        taken_at = datetime.now(UTC) - self._snapshot_margin  # see SNAPSHOT_MARGIN
        names = Names()
        tops = self._fetch_level(post_id, names, parent=None, start=None)
        live: dict[int, Comment] = {}
        threads: dict[int, tuple[int, int]] = {}
        for top in tops:
            top_id = int(top["id"])
            if not top.get("deleted"):
                live[top_id] = to_comment(self._gid, top, post_id, None, names)
            thread_count, replies = thread_of(top)
            if thread_count > sum(1 for r in replies if not r.get("deleted")):
                replies = self._fetch_level(post_id, names, parent=top_id, start=None)
            for reply in replies:
                if not reply.get("deleted"):
                    live[int(reply["id"])] = to_comment(self._gid, reply, post_id, top_id, names)
            if thread_count:
                threads[top_id] = (thread_count, max([0, *(int(r["id"]) for r in replies)]))
        changes = tuple(
            CommentChange(
                kind=ChangeKind.EDIT,
                platform=Platform.VK,
                community=str(self._gid),
                external_id=comment.external_id,
                post_id=str(post_id),
                comment=comment,
            )
            for _, comment in sorted(live.items())
        )
        cursor = PostCursor(n=count, last=max([0, *(int(t["id"]) for t in tops)]), threads=threads)
        snapshot = PostSnapshot(
            platform=Platform.VK,
            community=str(self._gid),
            post_id=str(post_id),
            alive=frozenset(c.external_id for c in live.values()),
            taken_at=taken_at,
        )
        return changes, cursor, snapshot

    def _new_replies(
        self,
        post_id: int,
        top: Mapping[str, Any],
        threads: dict[int, tuple[int, int]],
        names: Names,
    ) -> list[dict[str, Any]]:
        """Replies under ``top`` newer than its thread cursor; updates ``threads`` in place."""
        top_id = int(top["id"])
        thread_count, inline = thread_of(top)
        known_count, known_last = threads.get(top_id, (0, 0))
        if thread_count <= known_count:
            if thread_count != known_count:
                threads[top_id] = (thread_count, known_last)
            return []
        replies = [r for r in inline if int(r["id"]) > known_last]
        alive_inline = sum(1 for r in inline if not r.get("deleted"))
        if len(inline) >= THREAD_ITEMS and thread_count > alive_inline:
            after = max([known_last, *(int(r["id"]) for r in inline)])
            more = self._fetch_level(post_id, names, parent=top_id, start=after)
            replies.extend(r for r in more if int(r["id"]) > after)
        newest = max([known_last, *(int(r["id"]) for r in replies)])
        threads[top_id] = (thread_count, newest)
        return [r for r in replies if not r.get("deleted")]

    # -- long poll --------------------------------------------------------------------------

    def _longpoll_server(self) -> str:
        metrics.LONGPOLL_RECONNECTS.labels(self._name).inc()
        try:
            response = self._act("groups.getLongPollServer", {"group_id": self._gid})
        except ApiRefusal as exc:
            raise PermanentSourceError(
                f"VK не выдал сервер Long Poll сообществу {self._gid} (ошибка {exc.code}: "
                f"«{exc.vk_message}»). Включите Bots Long Poll API в настройках сообщества, "
                "отметьте события «комментарии на стене» и проверьте права community_token."
            ) from exc
        key, server, ts = response.get("key"), response.get("server"), response.get("ts")
        if not key or not server or ts is None:
            raise PermanentSourceError(
                "VK вернул неполные данные Long Poll сервера (нет key, server или ts)."
            )
        self._lp_key = str(key)
        self._lp_server = str(server)
        return str(ts)

    def _check(self, ts: str) -> dict[str, Any]:
        server, key = self._lp_server, self._lp_key
        if server is None or key is None:
            raise RuntimeError("long poll server not fetched yet")
        params: dict[str, str | int] = {
            "act": "a_check",
            "key": key,
            "ts": ts,
            "wait": self._longpoll_wait,
        }

        def attempt() -> dict[str, Any]:
            response = self._lp_session.get(
                server,
                params=params,
                timeout=self._longpoll_wait + self._http_timeout,
            )
            with response:
                if not response.ok:
                    raise HttpStatusError(response.status_code)
                body = response.json()
            if not isinstance(body, dict):
                raise ValueError("long poll reply is not an object")
            return body

        return self._caller.run(TokenRole.COMMUNITY, "long poll a_check", attempt)

    def listen_once(self, cursors: Mapping[str, str]) -> Batch:
        start = self._caller.calls
        ts: str | None = None
        raw = cursors.get(LONGPOLL_KEY)
        if raw is not None:
            try:
                stored = json.loads(raw).get("ts")
                ts = None if stored is None else str(stored)
            except (ValueError, AttributeError):
                log.warning("unreadable vk long poll cursor, starting from now")
        if ts is None or self._lp_server is None:
            fresh_ts = self._longpoll_server()
            if ts is None:
                # Whatever happened before now was never pushed to us: the caller must sweep.
                return self._lp_batch(fresh_ts, (), True, start)
        body = self._check(ts)
        failed = body.get("failed")
        if failed is None:
            updates = body.get("updates") or []
            new_ts = str(body.get("ts", ts))
            changes = self._names.fill(event_changes(self._gid, updates))
            return self._lp_batch(new_ts, changes, False, start)
        log.info("vk long poll failed", extra={"failed": failed, "source": self._name})
        if failed == 1:
            return self._lp_batch(str(body.get("ts", ts)), (), True, start)
        if failed == 2:
            self._longpoll_server()  # a new key; our ts stays valid
            return self._lp_batch(ts, (), False, start)
        return self._lp_batch(self._longpoll_server(), (), True, start)  # 3 and anything unknown

    def _lp_batch(
        self, ts: str, changes: tuple[CommentChange, ...], needs_sweep: bool, start: int
    ) -> Batch:
        return Batch(
            changes=changes,
            cursors={LONGPOLL_KEY: dump({"ts": ts})},
            needs_sweep=needs_sweep,
            api_calls=self._caller.calls - start,
        )

    # -- replies ----------------------------------------------------------------------------

    def post_reply(self, reply: OutgoingReply) -> PostedReply:
        if reply.community != str(self._gid):
            raise ReplyRejectedError(
                f"Ответ адресован сообществу {reply.community}, а источник {self._name} "
                f"работает с сообществом {self._gid}."
            )
        post_id, reply_to = as_int(reply.post_id), as_int(reply.reply_to_id)
        if post_id is None or reply_to is None:
            raise ReplyRejectedError("Неверный номер поста или комментария для ответа в VK.")
        try:
            response = self._act(
                "wall.createComment",
                {
                    "owner_id": -self._gid,
                    "post_id": post_id,
                    "from_group": self._gid,
                    "reply_to_comment": reply_to,
                    "message": reply.text,
                    "guid": reply.idempotency_key,
                },
            )
        except ApiRefusal as exc:
            raise ReplyRejectedError(
                f"VK отклонил ответ (ошибка {exc.code}: «{exc.vk_message}»)."
            ) from exc
        comment_id = as_int(response.get("comment_id"))
        if comment_id is None:
            raise TransientSourceError("wall.createComment answered without comment_id")
        stack = [s for s in (as_int(x) for x in response.get("parents_stack") or ()) if s]
        root = stack[0] if stack else reply_to
        url = comment_link(str(self._gid), str(post_id), str(comment_id), str(root))
        return PostedReply(external_id=str(comment_id), url=url)
