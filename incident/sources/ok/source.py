"""The OK source: comments under one Odnoklassniki group's posts, through ``OkClient``.

Sweep: list the group's recent posts with their comment counts (``list_posts``, one swappable
function: ``stream.get`` + ``mediatopic.getByIds`` today), then page
``discussions.getComments`` forward from the stored anchor only where the count moved.

Cursors (compact JSON), one per post: ``post:<topic id>`` -> ``{"n": comment count, "a": anchor,
"d": newest date seen, "i": ids seen at that second, "r": {reply id: thread root}}``.

What OK cannot tell us, and what follows from it:
- no push channel: ``listen_once`` returns an empty batch at once and the configuration says
  ``listens = False``, so the worker never starts a listener for OK;
- deleted comments simply stop appearing and edits have no signal: an ordinary sweep, which
  reads a post only when its count moved, reports neither; a full sweep (``full=True``: at
  start, on a slow schedule) reads each recent post from its first comment and reports it as
  it is (an EDIT per comment and a ``PostSnapshot``), so edits and deletions are caught up
  within the full-sweep interval;
- no idempotency key for replies: before posting, the source reads the post's newest comments
  and looks for the group's own comment with the same text under the same comment.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from incident.models import (
    Batch,
    ChangeKind,
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
from incident.sources.ok.client import OK_API_URL, OkAmbiguous, OkClient, OkRefusal, RetryPolicy
from incident.sources.ok.links import comment_link, post_link
from incident.sources.ok.wire import (
    Post,
    PostCursor,
    new_changes,
    sort_key,
    to_post,
    topic_ids,
    usable,
)

__all__ = ["OkSource", "PostLister", "RetryPolicy", "stream_posts"]

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # discussions.getComments page (assumed maximum, docs/platforms.md)
MAX_PAGES = 1000  # a guard against an anchor that never ends
LOOKBACK_PAGES = 3  # newest comments read to find our own lost reply
TOPIC = "GROUP_TOPIC"
# A post that vanished or closed its comments between the listing and the read: skip it.
POST_GONE_CODES = frozenset({300, 700, 702})
# OK refuses the reply method itself or the right to use it: a person must reply by hand.
MANUAL_CODES = frozenset({3, 10, 50, 200})
# A full sweep judges deleted only comments written this long before it began reading (one
# written meanwhile may be missing from what it read; OK's clock may differ from ours).
SNAPSHOT_MARGIN = timedelta(seconds=10)
MANUAL_MESSAGE = "Одноклассники не принимают ответ через API: ответьте вручную по ссылке {link}"

PostLister = Callable[[OkClient, str, int], list[Post]]


def stream_posts(client: OkClient, group_id: str, count: int) -> list[Post]:
    """The group's ``count`` newest posts, newest first, with their comment counts.

    ``stream.get`` names the posts by ``{media_topic:<id>}`` markers, ``mediatopic.getByIds``
    gives their counts (docs/platforms.md, 2015-era clients: confidence M). Two calls.
    """
    feed = client.call("stream.get", {"gid": group_id, "patterns": "POST", "count": count})
    ids = topic_ids(feed.get("feeds") or () if isinstance(feed, dict) else ())[:count]
    if not ids:
        return []
    found = client.call(
        "mediatopic.getByIds", {"topic_ids": ",".join(ids), "fields": "media_topic.*"}
    )
    topics = found.get("media_topics") or () if isinstance(found, dict) else ()
    by_id = {p.id: p for p in (to_post(t) for t in topics if isinstance(t, dict)) if p}
    return [by_id[i] for i in ids if i in by_id]


class OkSource(ClosedOnExit):
    """A ``Source`` for the comments under one OK group's posts."""

    def __init__(
        self,
        *,
        name: str,
        group_id: int,
        application_key: str,
        application_secret_key: str,
        access_token: str,
        base_url: str = OK_API_URL,
        transport: httpx.BaseTransport | None = None,
        posts_per_sweep: int = 20,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, shared safely
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        requests_per_second: float | None = None,
        http_timeout: float = 30.0,
        list_posts: PostLister = stream_posts,
        snapshot_margin: timedelta = SNAPSHOT_MARGIN,
    ) -> None:
        if group_id <= 0:
            raise ValueError("group_id is the group's positive id")
        if not 1 <= posts_per_sweep <= 100:
            raise ValueError("posts_per_sweep must be within 1..100")
        self._name = name
        self._gid = str(group_id)
        self._posts_per_sweep = posts_per_sweep
        self._retry = retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._list_posts = list_posts
        self._snapshot_margin = snapshot_margin
        self._client = OkClient(
            application_key=application_key,
            application_secret_key=application_secret_key,
            access_token=access_token,
            base_url=base_url,
            transport=transport,
            retry=retry,
            sleep=sleep,
            rng=self._rng,
            requests_per_second=requests_per_second,
            timeout=http_timeout,
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def platform(self) -> Platform:
        return Platform.OK

    def close(self) -> None:
        self._client.close()

    def listen_once(self, cursors: Mapping[str, str]) -> Batch:
        """OK pushes nothing for post comments: an empty batch, at once (never called by the
        worker, since OK's configuration says it does not listen)."""
        return Batch()

    # -- sweep ------------------------------------------------------------------------------

    def sweep(self, cursors: Mapping[str, str], *, full: bool = False) -> Iterator[Batch]:
        start = self._client.calls
        try:
            posts = self._list_posts(self._client, self._gid, self._posts_per_sweep)
        except OkRefusal as exc:
            raise PermanentSourceError(
                f"OK отказал в чтении постов группы {self._gid} (ошибка {exc.code}: "
                f"«{exc.ok_message}»). Проверьте group_id и права access_token."
            ) from exc
        carried = self._client.calls - start  # the listing's calls go with the first batch
        for post in reversed(posts):  # oldest first
            key = f"post:{post.id}"
            cursor = PostCursor.parse(cursors.get(key))
            unchanged = cursor.n == post.comments if cursor is not None else post.comments == 0
            if unchanged and not (full and cursor is not None):
                continue
            before = self._client.calls
            snapshots: tuple[PostSnapshot, ...] = ()
            try:
                if full:
                    changes, new_cursor, snapshot = self._read_post(post, cursor)
                    snapshots = (snapshot,)
                else:
                    changes, new_cursor = self._sweep_post(post, cursor)
            except OkRefusal as exc:
                if exc.code not in POST_GONE_CODES:
                    raise PermanentSourceError(
                        f"OK отказал в чтении комментариев поста {post.id} (ошибка {exc.code}: "
                        f"«{exc.ok_message}»). Проверьте права access_token."
                    ) from exc
                log.warning("ok post skipped", extra={"post_id": post.id, "code": exc.code})
                carried += self._client.calls - before
                continue
            yield Batch(
                changes=changes,
                cursors={key: new_cursor.dump()},
                api_calls=carried + self._client.calls - before,
                snapshots=snapshots,
            )
            carried = 0
        if carried:
            yield Batch(api_calls=carried)

    def _sweep_post(
        self, post: Post, cursor: PostCursor | None
    ) -> tuple[tuple[CommentChange, ...], PostCursor]:
        known = cursor or PostCursor()
        try:
            items, anchor = self._read_forward(post.id, known.anchor or "FIRST")
        except OkRefusal:
            if known.anchor is None:
                raise
            # The stored anchor is no longer accepted: read the post again from its first
            # comment; the (date, ids) part of the cursor still tells the new ones.
            log.warning("ok anchor refused, reading the post from the start")
            items, anchor = self._read_forward(post.id, "FIRST")
        fresh = sorted((i for i in items if usable(i) and known.is_new(i)), key=sort_key)
        for item in fresh:
            known.saw(item)
        changes = new_changes(self._gid, post.id, fresh, known.roots)
        known.n = post.comments
        known.anchor = anchor or known.anchor
        return changes, known

    def _read_post(
        self, post: Post, cursor: PostCursor | None
    ) -> tuple[tuple[CommentChange, ...], PostCursor, PostSnapshot]:
        """Every comment of the post as it is now (a full sweep): an EDIT change per comment
        in time order, the cursor past all of them, and the post's snapshot."""
        taken_at = datetime.now(UTC) - self._snapshot_margin  # see SNAPSHOT_MARGIN
        items, anchor = self._read_forward(post.id, "FIRST")
        every = sorted((i for i in items if usable(i)), key=sort_key)
        known = cursor or PostCursor()
        for item in every:
            if known.is_new(item):
                known.saw(item)
        changes = tuple(
            replace(c, kind=ChangeKind.EDIT)
            for c in new_changes(self._gid, post.id, every, known.roots)
        )
        known.n = post.comments
        known.anchor = anchor or known.anchor
        snapshot = PostSnapshot(
            platform=Platform.OK,
            community=self._gid,
            post_id=post.id,
            alive=frozenset(c.external_id for c in changes),
            taken_at=taken_at,
        )
        return changes, known, snapshot

    def _comments_page(self, topic: str, anchor: str, direction: str) -> dict[str, Any]:
        # No ``fields``: OK's defaults carry what we map, and asking for comment.CREATED_MS
        # makes OK reject the whole call. No ``mark_as_read``: it changes the account's state.
        response = self._client.call(
            "discussions.getComments",
            {
                "discussionId": topic,
                "discussionType": TOPIC,
                "anchor": anchor,
                "direction": direction,
                "count": PAGE_SIZE,
            },
        )
        if not isinstance(response, dict):
            raise TransientSourceError("discussions.getComments answered with no object")
        return response

    def _read_forward(self, topic: str, anchor: str) -> tuple[list[dict[str, Any]], str | None]:
        """Every comment after ``anchor``, page by page; and the anchor to resume from."""
        items: list[dict[str, Any]] = []
        resume: str | None = None
        for _ in range(MAX_PAGES):
            response = self._comments_page(topic, anchor, "FORWARD")
            page = [c for c in response.get("comments") or () if isinstance(c, dict)]
            items.extend(page)
            if response.get("anchor"):
                anchor = resume = str(response["anchor"])
            if not page or not response.get("has_more"):
                break
        return items, resume

    # -- replies ----------------------------------------------------------------------------

    def post_reply(self, reply: OutgoingReply) -> PostedReply:
        if reply.community != self._gid:
            raise ReplyRejectedError(
                f"Ответ адресован группе {reply.community}, а источник {self._name} "
                f"работает с группой {self._gid}."
            )
        target = comment_link(self._gid, reply.post_id, reply.reply_to_id, None)
        link = target or post_link(self._gid, reply.post_id) or f"https://ok.ru/group/{self._gid}"
        for attempt in range(1, self._retry.attempts + 1):
            # OK has no idempotency key: an earlier try (of this worker or of one that died
            # mid-send) may have posted it. The group's own comment with our text says so.
            mine = self._find_own(reply)
            if mine is not None:
                return self._posted(reply, mine)
            try:
                response = self._client.call(
                    "discussions.addDiscussionComment",
                    {
                        "entityId": reply.post_id,
                        "entityType": TOPIC,
                        "comment": reply.text,
                        "reply_to_comment_id": reply.reply_to_id,
                        "as_admin": True,
                    },
                    write=True,
                    refusals=MANUAL_CODES,
                )
            except OkAmbiguous as exc:
                log.warning("ok reply answer lost, looking before resending", exc_info=exc)
                self._sleep(self._rng.uniform(0.0, self._retry.cap(attempt)))
                continue
            except OkRefusal as exc:
                raise _rejected(exc, link) from exc
            comment_id = _reply_id(response)
            if comment_id is not None:
                return self._posted(reply, comment_id)
            log.warning("ok reply answered without a comment id, looking for it")
        raise TransientSourceError(
            f"discussions.addDiscussionComment: the answer was lost {self._retry.attempts} times "
            "and the reply is not among the comments yet"
        )

    def _posted(self, reply: OutgoingReply, comment_id: str) -> PostedReply:
        return PostedReply(
            external_id=comment_id,
            url=comment_link(self._gid, reply.post_id, comment_id, None),
        )

    def _find_own(self, reply: OutgoingReply) -> str | None:
        """The id of the group's comment with ``reply.text`` under ``reply.reply_to_id`` among
        the post's newest comments, if there is one."""
        anchor = "LAST"
        for _ in range(LOOKBACK_PAGES):
            try:
                response = self._comments_page(reply.post_id, anchor, "BACKWARD")
            except OkRefusal as exc:
                if exc.code in POST_GONE_CODES:
                    raise _rejected(exc, None) from exc
                raise
            page = [c for c in response.get("comments") or () if isinstance(c, dict)]
            for item in page:
                if (
                    item.get("author_type") == "GROUP"
                    and str(item.get("reply_to_comment_id")) == reply.reply_to_id
                    and str(item.get("text") or "").strip() == reply.text.strip()
                    and item.get("id") is not None
                ):
                    return str(item["id"])
            if not page or not response.get("has_more") or not response.get("anchor"):
                return None
            anchor = str(response["anchor"])
        return None


def _reply_id(response: Any) -> str | None:
    """The new comment's id: OK's 2017 docs give no schema [unsure], so a bare id or an
    object with ``id`` / ``comment_id`` is taken."""
    if isinstance(response, str | int) and not isinstance(response, bool) and str(response):
        return str(response)
    if isinstance(response, dict):
        for key in ("id", "comment_id"):
            if response.get(key) is not None:
                return str(response[key])
    return None


def _rejected(exc: OkRefusal, link: str | None) -> ReplyRejectedError:
    if exc.code in MANUAL_CODES and link is not None:
        log.warning("ok refused the reply method", extra={"code": exc.code})
        return ReplyRejectedError(MANUAL_MESSAGE.format(link=link))
    if exc.code == 454:
        return ReplyRejectedError(
            "Одноклассники отклонили текст ответа (фильтр OK, ошибка 454): измените текст."
        )
    if exc.code in POST_GONE_CODES:
        return ReplyRejectedError(
            f"Комментарий или пост больше недоступен в Одноклассниках (ошибка {exc.code}): "
            "отвечать некому."
        )
    return ReplyRejectedError(
        f"Одноклассники отклонили ответ (ошибка {exc.code}: «{exc.ok_message}»)."
    )
