"""VK's wire format to our vocabulary: comment mapping, long poll events, sweep cursors."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from incident.models import ChangeKind, Comment, CommentChange, Platform

log = logging.getLogger(__name__)

EVENT_KINDS = {
    "wall_reply_new": ChangeKind.NEW,
    "wall_reply_edit": ChangeKind.EDIT,
    "wall_reply_restore": ChangeKind.RESTORE,
    "wall_reply_delete": ChangeKind.DELETE,
}


def dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


@dataclass
class PostCursor:
    n: int = 0
    last: int = 0
    threads: dict[int, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> PostCursor | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            threads = {
                int(top): (int(pair[0]), int(pair[1])) for top, pair in data.get("t", {}).items()
            }
            return cls(n=int(data["n"]), last=int(data.get("last", 0)), threads=threads)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            log.warning("unreadable vk post cursor, reading the post from the start")
            return None

    def dump(self) -> str:
        threads = {str(top): [c, last] for top, (c, last) in sorted(self.threads.items()) if c > 0}
        return dump({"n": self.n, "last": self.last, "t": threads})


@dataclass
class Names:
    """Author names from ``extended=1`` replies: users by id, communities by negative id."""

    by_id: dict[int, str] = field(default_factory=dict)

    def add(self, response: Mapping[str, Any]) -> None:
        for profile in response.get("profiles") or ():
            uid = as_int(profile.get("id"))
            if uid is not None:
                first, last = profile.get("first_name", ""), profile.get("last_name", "")
                self.by_id[uid] = f"{first} {last}".strip()
        for group in response.get("groups") or ():
            gid = as_int(group.get("id"))
            if gid is not None and group.get("name"):
                self.by_id[-abs(gid)] = str(group["name"])


def thread_of(item: Mapping[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    thread = item.get("thread")
    if not isinstance(thread, dict):
        return 0, []
    items = [i for i in thread.get("items") or () if as_int(i.get("id")) is not None]
    return as_int(thread.get("count")) or 0, items


def to_comment(
    group_id: int,
    item: Mapping[str, Any],
    post_id: int,
    root: int | None,
    names: Names | None,
) -> Comment:
    """Map a ``wall_wall_comment``; ``root`` is the thread's top comment when known."""
    stack = [s for s in (as_int(x) for x in item.get("parents_stack") or ()) if s is not None]
    thread_root = stack[0] if stack else root
    reply_to = as_int(item.get("reply_to_comment")) or thread_root
    from_id = as_int(item.get("from_id")) or 0
    return Comment(
        platform=Platform.VK,
        community=str(group_id),
        post_id=str(post_id),
        external_id=str(item["id"]),
        author_id=str(from_id),
        text=str(item.get("text") or ""),
        created_at=datetime.fromtimestamp(as_int(item.get("date")) or 0, tz=UTC),
        from_community=from_id == -group_id,
        reply_to_id=str(reply_to) if reply_to is not None else None,
        thread_root_id=str(thread_root) if thread_root is not None else None,
        author_name=names.by_id.get(from_id) if names is not None else None,
        raw=dict(item),
    )


def event_changes(group_id: int, updates: list[Any]) -> tuple[CommentChange, ...]:
    """Map Bots Long Poll updates of ``group_id`` to changes; other events are ignored."""
    changes: list[CommentChange] = []
    for event in updates:
        if not isinstance(event, dict):
            continue
        kind = EVENT_KINDS.get(str(event.get("type")))
        obj = event.get("object")
        if kind is None or as_int(event.get("group_id")) != group_id or not isinstance(obj, dict):
            continue
        comment_id, post_id = as_int(obj.get("id")), as_int(obj.get("post_id"))
        if comment_id is None or post_id is None:
            log.warning("vk event without comment or post id skipped")
            continue
        event_id = str(event["event_id"]) if event.get("event_id") is not None else None
        comment = (
            None if kind is ChangeKind.DELETE else to_comment(group_id, obj, post_id, None, None)
        )
        changes.append(
            CommentChange(
                kind=kind,
                platform=Platform.VK,
                community=str(group_id),
                external_id=str(comment_id),
                post_id=str(post_id),
                comment=comment,
                event_id=event_id,
            )
        )
    return tuple(changes)
