"""The state of the fake OK and the ``fb.do`` methods it serves, in OK's wire format.

Not thread-safe on its own: ``FakeOk`` (ok_server.py) holds a lock around every call.

Modelling choices (where OK's behaviour is not documented, the choice is written here):
- Comment ids are opaque random strings (they do not sort by time); topic ids are numbers.
- An anchor is an opaque token for a position in a post's comments (the creation order); it stays
  valid when the comment it points at is deleted. ``FIRST`` / ``LAST`` are the ends.
  ``FORWARD`` returns up to ``count`` comments after the anchor, oldest first; ``BACKWARD`` the
  ``count`` comments before it, also oldest first. The answer's ``anchor`` is the position to
  continue from (the last comment returned going forward, the first going back); ``has_more``
  says whether more lie that way; ``comments`` is absent when there are none.
- Deleted comments just disappear; an edit changes the text and nothing else.
- ``discussions.addDiscussionComment`` answers with the new comment's id as a bare JSON string.
- ``count`` above 100 is refused with error 100; so is a ``fields`` naming ``comment.CREATED_MS``
  (docs/platforms.md: OK rejects the whole call). ``mark_as_read`` is recorded as a protocol error.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from incident.sources.ok.wire import moscow_text

MAX_COUNT = 100
ERROR_MESSAGES = {
    2: "SERVICE : Service is temporary unavailable",
    3: "METHOD : Method does not exist",
    8: "FLOOD_BLOCKED : Flood blocked",
    10: "PERMISSION_DENIED : Permission denied",
    11: "LIMIT_REACHED : Call limit reached",
    50: "NOT_ADMIN : Not a group administrator",
    100: "PARAM : Invalid parameter",
    101: "PARAM_API_KEY : Unknown application key",
    102: "PARAM_SESSION_EXPIRED : Session expired",
    103: "PARAM_SESSION_KEY : Invalid session key",
    104: "PARAM_SIGNATURE : Invalid signature",
    200: "PARAM_PERMISSION : No permission for this action",
    300: "NOT_FOUND : Requested resource not found",
    453: "SESSION_REQUIRED : Session required",
    454: "CENSOR_MATCH : Text rejected by the censor",
    511: "ACCOUNT_BLOCKED : Account blocked by anti-spam",
    514: "ANTISPAM : Action blocked by anti-spam",
    700: "COMMENT_NOT_FOUND : Comment not found",
    702: "COMMENT_NOT_ACTIVE : Comment is not active",
}


class OkError(Exception):
    """An OK error: becomes ``{"error_code", "error_msg", "error_data"}`` with HTTP 200."""

    def __init__(self, code: int, detail: str = "") -> None:
        message = ERROR_MESSAGES.get(code, "UNKNOWN : Error")
        super().__init__(f"{message}: {detail}" if detail else message)
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error_code": self.code, "error_msg": str(self), "error_data": None}


@dataclass
class StoredComment:
    id: str
    seq: int
    topic_id: str
    author_id: str
    author_name: str
    author_type: str  # "USER" or "GROUP"
    text: str
    date: datetime
    reply_to: StoredComment | None = None
    deleted: bool = False

    def wire(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": self.id,
            "author_id": self.author_id,
            "author_name": self.author_name,
            "author_type": self.author_type,
            "text": self.text,
            "date": moscow_text(self.date),
        }
        if self.reply_to is not None:
            item["reply_to_comment_id"] = self.reply_to.id
            item["reply_to_id"] = self.reply_to.author_id
            item["reply_to_name"] = self.reply_to.author_name
        return item


@dataclass
class StoredTopic:
    id: str
    group_id: str
    text: str
    created: datetime
    comments: list[StoredComment] = field(default_factory=list)

    def live(self) -> list[StoredComment]:
        return [c for c in self.comments if not c.deleted]


@dataclass
class OkWorld:
    """Groups, topics, comments, users and the reply switch of the fake OK."""

    groups: dict[str, str] = field(default_factory=dict)  # group id -> name
    users: dict[str, str] = field(default_factory=dict)  # user id -> name
    topics: dict[str, StoredTopic] = field(default_factory=dict)
    comments: dict[str, StoredComment] = field(default_factory=dict)
    created: list[StoredComment] = field(default_factory=list)  # by addDiscussionComment
    refuse_replies_with: int | None = None
    protocol_errors: list[str] = field(default_factory=list)
    _seq: int = 0
    _next_topic: int = 153_000_000_000_000

    # -- building -----------------------------------------------------------------------------

    def add_topic(self, group_id: str, text: str, at: datetime) -> StoredTopic:
        if group_id not in self.groups:
            raise KeyError(f"no group {group_id}")
        self._next_topic += 1
        topic = StoredTopic(id=str(self._next_topic), group_id=group_id, text=text, created=at)
        self.topics[topic.id] = topic
        return topic

    def add_comment(
        self,
        topic_id: str,
        author_id: str,
        text: str,
        at: datetime,
        *,
        reply_to: str | None = None,
        as_group: bool = False,
    ) -> StoredComment:
        topic = self.topic(topic_id)
        parent = None
        if reply_to is not None:
            parent = self.comments.get(reply_to)
            if parent is None or parent.deleted or parent.topic_id != topic_id:
                raise OkError(700, f"no comment {reply_to} under topic {topic_id}")
        self._seq += 1
        name = self.groups[topic.group_id] if as_group else self.users.get(author_id, author_id)
        comment = StoredComment(
            id=secrets.token_urlsafe(9),
            seq=self._seq,
            topic_id=topic_id,
            author_id=author_id,
            author_name=name,
            author_type="GROUP" if as_group else "USER",
            text=text,
            date=at,
            reply_to=parent,
        )
        topic.comments.append(comment)
        self.comments[comment.id] = comment
        return comment

    def topic(self, topic_id: str) -> StoredTopic:
        topic = self.topics.get(topic_id)
        if topic is None:
            raise OkError(300, f"no topic {topic_id}")
        return topic

    # -- methods ------------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, str], user_id: str, now: datetime) -> Any:
        if "mark_as_read" in params:
            self.protocol_errors.append(f"{method}: mark_as_read sent")
        if "CREATED_MS" in params.get("fields", "").upper():
            raise OkError(100, "comment.CREATED_MS is not allowed")
        if method == "stream.get":
            return self._stream_get(params)
        if method == "mediatopic.getByIds":
            return self._get_by_ids(params)
        if method == "discussions.getComments":
            return self._get_comments(params)
        if method == "discussions.addDiscussionComment":
            return self._add_comment(params, user_id, now)
        raise OkError(3, method)

    def _stream_get(self, params: dict[str, str]) -> dict[str, Any]:
        gid = params.get("gid", "")
        if gid not in self.groups:
            raise OkError(300, f"no group {gid}")
        if params.get("patterns", "POST") != "POST":
            raise OkError(100, "this fake serves patterns=POST only")
        count = _count(params, 20)
        topics = sorted(
            (t for t in self.topics.values() if t.group_id == gid),
            key=lambda t: (t.created, int(t.id)),
            reverse=True,
        )[:count]
        if not topics:
            return {"anchor": "", "has_more": False}
        feeds = [
            {
                "pattern": "POST",
                "message": f"{{group:{gid}}} опубликовала заметку {{media_topic:{t.id}}}",
                "date": moscow_text(t.created),
            }
            for t in topics
        ]
        return {"feeds": feeds, "anchor": _anchor(len(topics)), "has_more": False}

    def _get_by_ids(self, params: dict[str, str]) -> dict[str, Any]:
        ids = [i for i in params.get("topic_ids", "").split(",") if i]
        if not ids or len(ids) > MAX_COUNT:
            raise OkError(100, "topic_ids: 1..100 ids")
        found = [self.topics[i] for i in ids if i in self.topics]
        return {
            "media_topics": [
                {
                    "id": t.id,
                    "created_ms": int(t.created.timestamp() * 1000),
                    "media": [{"type": "text", "text": t.text}],
                    "discussion_summary": {"comments_count": len(t.live())},
                }
                for t in found
            ]
        }

    def _get_comments(self, params: dict[str, str]) -> dict[str, Any]:
        if params.get("discussionType") != "GROUP_TOPIC":
            raise OkError(100, "discussionType")
        topic = self.topic(params.get("discussionId", ""))
        count = _count(params, 20)
        direction = params.get("direction", "FORWARD")
        position = _position(params.get("anchor", "FIRST"), self._seq)
        live = topic.live()
        answer: dict[str, Any] = {"discussionId": topic.id, "discussionType": "GROUP_TOPIC"}
        if direction == "FORWARD":
            after = [c for c in live if c.seq > position]
            page, more = after[:count], len(after) > count
            end = page[-1].seq if page else position
        elif direction == "BACKWARD":
            before = [c for c in live if c.seq < position]
            page, more = before[-count:], len(before) > count
            end = page[0].seq if page else position
        else:
            raise OkError(100, f"direction {direction} is not served by this fake")
        if page:
            answer["comments"] = [c.wire() for c in page]
        answer.update({"anchor": _anchor(end), "has_more": more})
        return answer

    def _add_comment(self, params: dict[str, str], user_id: str, now: datetime) -> str:
        if self.refuse_replies_with is not None:
            raise OkError(self.refuse_replies_with, "discussions.addDiscussionComment")
        if params.get("entityType") != "GROUP_TOPIC":
            raise OkError(100, "entityType")
        text = params.get("comment", "")
        if not text.strip():
            raise OkError(100, "comment is empty")
        topic = self.topic(params.get("entityId", ""))
        as_group = params.get("as_admin") == "true"
        author = topic.group_id if as_group else user_id
        comment = self.add_comment(
            topic.id,
            author,
            text,
            now,
            reply_to=params.get("reply_to_comment_id") or None,
            as_group=as_group,
        )
        self.created.append(comment)
        return comment.id


def _count(params: dict[str, str], default: int) -> int:
    try:
        count = int(params.get("count", default))
    except ValueError:
        raise OkError(100, "count") from None
    if not 1 <= count <= MAX_COUNT:
        raise OkError(100, f"count must be within 1..{MAX_COUNT}")
    return count


def _anchor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"pos:{seq}".encode()).decode()


def _position(anchor: str, last: int) -> int:
    """The creation number an anchor stands for: FIRST is before all, LAST after all."""
    if anchor == "FIRST":
        return 0
    if anchor == "LAST":
        return last + 1
    try:
        kind, _, number = base64.urlsafe_b64decode(anchor.encode()).decode().partition(":")
        if kind == "pos" and number.isdigit():
            return int(number)
    except ValueError:
        pass
    raise OkError(100, f"invalid anchor {anchor!r}")


def utc_now() -> datetime:
    return datetime.now(UTC)
