"""OK's wire format to our vocabulary: comments, Moscow-time dates, posts, per-post cursors."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from incident.models import ChangeKind, Comment, CommentChange, Platform

log = logging.getLogger(__name__)

MOSCOW = ZoneInfo("Europe/Moscow")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
TOPIC_MARKER = re.compile(r"\{media_topic:([^}\s]+)\}")
ROOTS_KEPT = 500  # reply -> thread root links a post cursor remembers


def dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def parse_date(text: str) -> datetime:
    """OK's ``date`` ("yyyy-MM-dd HH:mm:ss", Moscow time) as an aware UTC datetime."""
    return datetime.strptime(text, DATE_FORMAT).replace(tzinfo=MOSCOW).astimezone(UTC)


def moscow_text(moment: datetime) -> str:
    """An aware datetime as OK writes it (Moscow time); the fake uses it."""
    return moment.astimezone(MOSCOW).strftime(DATE_FORMAT)


@dataclass(frozen=True, slots=True)
class Post:
    """A group's post (a media topic) as the listing reports it."""

    id: str
    comments: int


def topic_ids(feeds: Iterable[Any]) -> list[str]:
    """Media topic ids named by ``{media_topic:<id>}`` markers in ``stream.get`` feeds."""
    found: list[str] = []
    for feed in feeds:
        message = feed.get("message") if isinstance(feed, dict) else None
        for topic in TOPIC_MARKER.findall(str(message or "")):
            if topic not in found:
                found.append(topic)
    return found


def to_post(topic: Mapping[str, Any]) -> Post | None:
    """A ``media_topics[]`` item; None without an id. A missing count reads as 0."""
    topic_id = topic.get("id")
    if topic_id is None or isinstance(topic_id, bool):
        return None
    summary = topic.get("discussion_summary")
    count = summary.get("comments_count") if isinstance(summary, dict) else None
    return Post(id=str(topic_id), comments=count if isinstance(count, int) else 0)


def sort_key(item: Mapping[str, Any]) -> str:
    """Time: "yyyy-MM-dd HH:mm:ss" strings sort as times do. Within one second the ids are
    opaque (they do not sort by time), so a stable sort keeps OK's own order there."""
    return str(item.get("date") or "")


@dataclass
class PostCursor:
    """What a sweep remembers of one post.

    ``n``: its comment count when last read; ``anchor``: where the last read stopped;
    ``date`` and ``ids``: the newest comment date seen and the ids seen at that very second (ids
    are opaque: within one second only membership tells old from new); ``roots``: the thread
    root of recent replies, so a reply to a reply read later still finds its thread.
    """

    n: int = 0
    anchor: str | None = None
    date: str = ""
    ids: list[str] = field(default_factory=list)
    roots: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> PostCursor | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            anchor = data.get("a")
            return cls(
                n=int(data["n"]),
                anchor=None if anchor is None else str(anchor),
                date=str(data.get("d", "")),
                ids=[str(i) for i in data.get("i", [])],
                roots={str(k): str(v) for k, v in data.get("r", {}).items()},
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning("unreadable ok post cursor, reading the post from the start")
            return None

    def is_new(self, item: Mapping[str, Any]) -> bool:
        date = str(item.get("date") or "")
        return date > self.date or (date == self.date and str(item.get("id")) not in self.ids)

    def saw(self, item: Mapping[str, Any]) -> None:
        date, comment_id = str(item.get("date") or ""), str(item.get("id"))
        if date > self.date:
            self.date, self.ids = date, [comment_id]
        elif date == self.date and comment_id not in self.ids:
            self.ids.append(comment_id)

    def dump(self) -> str:
        roots = dict(list(self.roots.items())[-ROOTS_KEPT:])
        return dump({"n": self.n, "a": self.anchor, "d": self.date, "i": self.ids, "r": roots})


def to_comment(group_id: str, topic_id: str, item: Mapping[str, Any], root: str | None) -> Comment:
    """Map one ``discussions.getComments`` comment; ``root`` is its thread's first comment."""
    reply_to = item.get("reply_to_comment_id")
    name = item.get("author_name")
    return Comment(
        platform=Platform.OK,
        community=group_id,
        post_id=topic_id,
        external_id=str(item["id"]),
        author_id=str(item.get("author_id") or ""),
        text=str(item.get("text") or ""),
        created_at=parse_date(str(item["date"])),
        from_community=item.get("author_type") == "GROUP",
        reply_to_id=None if reply_to is None else str(reply_to),
        thread_root_id=root,
        author_name=str(name) if name else None,
        raw=dict(item),
    )


def new_changes(
    group_id: str, topic_id: str, items: Iterable[Mapping[str, Any]], roots: dict[str, str]
) -> tuple[CommentChange, ...]:
    """NEW changes for ``items`` (already in time order); ``roots`` learns each reply's root."""
    changes = []
    for item in items:
        reply_to = item.get("reply_to_comment_id")
        root = None if reply_to is None else roots.get(str(reply_to), str(reply_to))
        if root is not None:
            roots[str(item["id"])] = root
        comment = to_comment(group_id, topic_id, item, root)
        changes.append(
            CommentChange(
                kind=ChangeKind.NEW,
                platform=Platform.OK,
                community=group_id,
                external_id=comment.external_id,
                post_id=topic_id,
                comment=comment,
            )
        )
    return tuple(changes)


def usable(item: Any) -> bool:
    """A comment we can map: an object with an id and a parseable date."""
    if not isinstance(item, dict) or item.get("id") is None or not item.get("date"):
        return False
    try:
        parse_date(str(item["date"]))
    except ValueError:
        log.warning("ok comment with an unreadable date skipped")
        return False
    return True
