"""The state of the fake VK and its API methods, in VK's wire format (API 5.199).

Over ~450 lines on purpose: the fake's whole state model and every VK method it serves, in one
place, so the HTTP server stays a thin shell.

Not thread-safe on its own: ``FakeVk`` (vk_server.py) holds a lock around every call.

Modelling choices (where VK's behaviour is not documented, the choice is written here):
- Posts and comments of one community share one increasing id counter, as on VK, so a client
  that mixes up a post id and a comment id gets an error rather than a lucky match.
- A deleted comment stays in its list as a placeholder ``{id, from_id: 0, date, text: "",
  post_id, owner_id, parents_stack, deleted: true}`` (plus ``thread`` when top-level). List sizes
  (``current_level_count``, ``thread.count``) count placeholders; the post-wide ``count`` of
  ``wall.getComments`` and ``comments.count`` of ``wall.get`` count only live comments.
- ``preview_length`` defaults to 90 characters, as VK's documentation says; pass 0 for full texts.
- ``count`` above 100 is refused with error 100 instead of being silently clamped.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

API_VERSION = "5.199"
EVENT_HISTORY = 1000
TokenKind = Literal["community", "service", "user"]

ERROR_MESSAGES = {
    1: "Unknown error occurred",
    3: "Unknown method passed",
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    7: "Permission to perform this action is denied",
    8: "Invalid request",
    9: "Flood control",
    10: "Internal server error",
    14: "Captcha needed",
    15: "Access denied",
    17: "Validation required",
    18: "User was deleted or banned",
    27: "Group authorization failed: method is unavailable with group auth.",
    28: "Application authorization failed: method is unavailable with service token.",
    29: "Rate limit reached",
    100: "One of the parameters specified was missing or invalid",
    212: "Access to post comments denied",
    213: "Access to status replies denied",
    222: "Hyperlinks are forbidden",
    223: "Too many replies",
}


class VkError(Exception):
    """A VK API error: becomes ``{"error": {...}}`` with HTTP 200."""

    def __init__(self, code: int, detail: str = "", extra: dict[str, Any] | None = None) -> None:
        message = ERROR_MESSAGES.get(code, "Error")
        super().__init__(f"{message}: {detail}" if detail else message)
        self.code = code
        self.extra = extra or {}


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    group_id: int | None
    user_id: int | None


@dataclass
class StoredComment:
    id: int
    owner_id: int
    post_id: int
    from_id: int
    date: int
    text: str
    parents_stack: list[int]
    reply_to_comment: int | None = None
    reply_to_user: int | None = None
    deleted: bool = False

    @property
    def root(self) -> int | None:
        return self.parents_stack[0] if self.parents_stack else None

    def wire(self) -> dict[str, Any]:
        """The full ``wall_wall_comment`` object (as in events and ``FakeVk.comment``)."""
        obj: dict[str, Any] = {
            "id": self.id,
            "from_id": self.from_id,
            "date": self.date,
            "text": self.text,
            "post_id": self.post_id,
            "owner_id": self.owner_id,
            "parents_stack": list(self.parents_stack),
        }
        if self.reply_to_comment is not None:
            obj["reply_to_comment"] = self.reply_to_comment
        if self.reply_to_user is not None:
            obj["reply_to_user"] = self.reply_to_user
        if self.deleted:
            obj["deleted"] = True
        return obj


@dataclass
class StoredPost:
    id: int
    date: int
    text: str


@dataclass
class Group:
    id: int
    name: str
    screen_name: str
    next_id: int = 1
    posts: dict[int, StoredPost] = field(default_factory=dict)
    comments: dict[int, StoredComment] = field(default_factory=dict)
    guids: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: deque[tuple[int, dict[str, Any]]] = field(
        default_factory=lambda: deque(maxlen=EVENT_HISTORY)
    )
    last_seq: int = 0
    longpoll_key: str = field(default_factory=lambda: secrets.token_hex(16))

    def take_id(self) -> int:
        value = self.next_id
        self.next_id += 1
        return value

    def live_count(self, post_id: int) -> int:
        return sum(1 for c in self.comments.values() if c.post_id == post_id and not c.deleted)


def _int(params: dict[str, str], name: str, default: int | None = None) -> int:
    raw = params.get(name, "")
    if raw == "":
        if default is None:
            raise VkError(100, f"{name} is undefined")
        return default
    try:
        return int(raw)
    except ValueError:
        raise VkError(100, f"{name} not integer") from None


def _flag(params: dict[str, str], name: str) -> bool:
    return params.get(name, "0") not in ("", "0", "false")


def _bounded(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _int(params, name, default)
    if not low <= value <= high:
        raise VkError(100, f"{name} should be from {low} to {high}")
    return value


class VkWorld:
    """Groups, users, tokens, posts, comments and long poll event logs."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._on_event = on_event
        self.groups: dict[int, Group] = {}
        self.users: dict[int, tuple[str, str]] = {}
        self.tokens: dict[str, Token] = {}
        self.created: list[dict[str, Any]] = []

    # ----- world building -------------------------------------------------------------------

    def group(self, group_id: int) -> Group:
        try:
            return self.groups[group_id]
        except KeyError:
            raise KeyError(f"fake VK has no group {group_id}") from None

    def new_comment(
        self,
        group: Group,
        post_id: int,
        from_id: int,
        text: str,
        date: int,
        reply_to_comment: int | None,
    ) -> StoredComment:
        if post_id not in group.posts:
            raise VkError(100, "post_id is invalid")
        parents: list[int] = []
        reply_to_user = None
        if reply_to_comment is not None:
            target = group.comments.get(reply_to_comment)
            if target is None or target.post_id != post_id or target.deleted:
                raise VkError(100, "reply_to_comment is invalid")
            parents = [target.root or target.id]
            reply_to_user = target.from_id
        comment = StoredComment(
            id=group.take_id(),
            owner_id=-group.id,
            post_id=post_id,
            from_id=from_id,
            date=date,
            text=text,
            parents_stack=parents,
            reply_to_comment=reply_to_comment,
            reply_to_user=reply_to_user,
        )
        group.comments[comment.id] = comment
        self.push_event(group, "wall_reply_new", comment.wire())
        return comment

    def push_event(self, group: Group, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        group.last_seq += 1
        event = {
            "group_id": group.id,
            "type": kind,
            "event_id": secrets.token_hex(20),
            "v": API_VERSION,
            "object": obj,
        }
        group.events.append((group.last_seq, event))
        if self._on_event is not None:
            self._on_event(event)
        return event

    # ----- API methods ----------------------------------------------------------------------

    def call(self, method: str, params: dict[str, str], now: int) -> Any:
        """Run one API method; return the value of ``response`` or raise ``VkError``."""
        handler = {
            "wall.get": self._wall_get,
            "wall.getComments": self._wall_get_comments,
            "wall.createComment": self._wall_create_comment,
            "groups.getById": self._groups_get_by_id,
            "users.get": self._users_get,
            "groups.getLongPollServer": self._groups_get_long_poll_server,
        }.get(method)
        token = self.tokens.get(params.get("access_token", ""))
        if token is None:
            raise VkError(5)
        if not params.get("v"):
            raise VkError(8, "v (version) is required")
        if handler is None:
            raise VkError(3)
        return handler(token, params, now)

    def _owner_group(self, params: dict[str, str]) -> Group:
        if "owner_id" not in params and "domain" in params:
            for group in self.groups.values():
                if params["domain"] in (group.screen_name, f"club{group.id}"):
                    return group
            raise VkError(100, "domain is invalid")
        found = self.groups.get(-_int(params, "owner_id"))
        if found is None:
            raise VkError(100, "owner_id is invalid")
        return found

    def _wall_get(self, token: Token, params: dict[str, str], now: int) -> Any:
        self._needs_read_token(token)
        group = self._owner_group(params)
        offset = _bounded(params, "offset", 0, 0, 1 << 31)
        count = _bounded(params, "count", 20, 0, 100)
        posts = sorted(group.posts.values(), key=lambda p: p.id, reverse=True)
        return {
            "count": len(posts),
            "items": [self._post_wire(group, p) for p in posts[offset : offset + count]],
        }

    def _post_wire(self, group: Group, post: StoredPost) -> dict[str, Any]:
        return {
            "inner_type": "wall_wallpost",
            "id": post.id,
            "owner_id": -group.id,
            "from_id": -group.id,
            "date": post.date,
            "text": post.text,
            "post_type": "post",
            "marked_as_ads": 0,
            "comments": {
                "count": group.live_count(post.id),
                "can_post": 1,
                "groups_can_post": True,
            },
            "likes": {"count": 0, "user_likes": 0, "can_like": 1, "can_publish": 1},
            "views": {"count": 10 * post.id},
        }

    def _wall_get_comments(self, token: Token, params: dict[str, str], now: int) -> Any:
        self._needs_read_token(token)
        group = self._owner_group(params)
        post_id = _int(params, "post_id")
        if post_id not in group.posts:
            raise VkError(100, "post_id is invalid")
        count = _bounded(params, "count", 10, 0, 100)
        offset = _bounded(params, "offset", 0, 0, 1 << 31)
        threads = _bounded(params, "thread_items_count", 0, 0, 10)
        preview = _bounded(params, "preview_length", 90, 0, 1 << 31)
        sort = params.get("sort") or "asc"
        if sort not in ("asc", "desc", "smart"):
            raise VkError(100, "sort is invalid")
        likes = _flag(params, "need_likes")
        parent = _int(params, "comment_id", 0)
        if parent:
            root = group.comments.get(parent)
            if root is None or root.post_id != post_id:
                raise VkError(100, "comment_id is invalid")
        level = sorted(
            (
                c
                for c in group.comments.values()
                if c.post_id == post_id and c.root == (parent or None)
            ),
            key=lambda c: c.id,
            reverse=sort == "desc",
        )
        start = 0
        if "start_comment_id" in params:
            first = _int(params, "start_comment_id")
            sign = -1 if sort == "desc" else 1
            while start < len(level) and sign * level[start].id < sign * first:
                start += 1
        page = level[start + offset : start + offset + count]
        items = []
        for comment in page:
            item = self._comment_item(comment, preview, likes)
            if not parent:
                replies = sorted(
                    (r for r in group.comments.values() if r.root == comment.id),
                    key=lambda r: r.id,
                )
                item["thread"] = {
                    "count": len(replies),
                    "items": [self._comment_item(r, preview, likes) for r in replies[:threads]],
                    "can_post": True,
                    "show_reply_button": True,
                    "groups_can_post": True,
                }
            items.append(item)
        response: dict[str, Any] = {
            "count": len(level) if parent else group.live_count(post_id),
            "items": items,
            "current_level_count": len(level),
            "can_post": True,
            "show_reply_button": True,
            "groups_can_post": True,
        }
        if _flag(params, "extended"):
            response.update(self._extended(group, items))
        return response

    @staticmethod
    def _comment_item(comment: StoredComment, preview: int, likes: bool) -> dict[str, Any]:
        if comment.deleted:
            return {
                "id": comment.id,
                "from_id": 0,
                "date": comment.date,
                "text": "",
                "post_id": comment.post_id,
                "owner_id": comment.owner_id,
                "parents_stack": list(comment.parents_stack),
                "deleted": True,
            }
        item = comment.wire()
        if preview:
            item["text"] = comment.text[:preview]
        if likes:
            item["likes"] = {"count": 0, "user_likes": 0, "can_like": 1, "can_publish": 1}
        return item

    def _extended(self, group: Group, items: list[dict[str, Any]]) -> dict[str, Any]:
        ids: set[int] = {-group.id}
        for item in items:
            for inner in [item, *item.get("thread", {}).get("items", [])]:
                ids.update(i for i in (inner["from_id"], inner.get("reply_to_user")) if i)
        return {
            "profiles": [self._user_wire(i) for i in sorted(ids) if i > 0],
            "groups": [self._group_wire(-i) for i in sorted(ids, reverse=True) if i < 0],
        }

    def _user_wire(self, user_id: int) -> dict[str, Any]:
        if user_id not in self.users:
            return {
                "id": user_id,
                "first_name": "DELETED",
                "last_name": "",
                "deactivated": "deleted",
            }
        first, last = self.users[user_id]
        return {
            "id": user_id,
            "first_name": first,
            "last_name": last,
            "can_access_closed": True,
            "is_closed": False,
            "photo_50": f"https://vk.ru/images/camera_50.png?u={user_id}",
            "photo_100": f"https://vk.ru/images/camera_100.png?u={user_id}",
        }

    def _group_wire(self, group_id: int) -> dict[str, Any]:
        group = self.groups.get(group_id)
        if group is None:
            return {"id": group_id, "name": "DELETED", "deactivated": "deleted"}
        return {
            "id": group.id,
            "name": group.name,
            "screen_name": group.screen_name,
            "is_closed": 0,
            "type": "page",
            "photo_50": f"https://vk.ru/images/community_50.png?g={group.id}",
            "photo_100": f"https://vk.ru/images/community_100.png?g={group.id}",
            "photo_200": f"https://vk.ru/images/community_200.png?g={group.id}",
        }

    def _wall_create_comment(self, token: Token, params: dict[str, str], now: int) -> Any:
        if token.kind == "service":
            raise VkError(28)
        group = self._owner_group(params)
        if token.kind == "community":
            if token.group_id != group.id:
                raise VkError(15, "community token of another community")
            from_id = -group.id
        elif _int(params, "from_group", 0):
            from_id = -_int(params, "from_group")
        else:
            from_id = token.user_id or 1
        guid = params.get("guid", "")
        if guid and guid in group.guids:
            return dict(group.guids[guid])
        message = params.get("message", "")
        if not message.strip() and not params.get("attachments"):
            raise VkError(100, "message is empty")
        reply_to = _int(params, "reply_to_comment", 0) or None
        comment = self.new_comment(group, _int(params, "post_id"), from_id, message, now, reply_to)
        result = {"comment_id": comment.id, "parents_stack": list(comment.parents_stack)}
        if guid:
            group.guids[guid] = dict(result)
        self.created.append(comment.wire())
        return result

    def _groups_get_by_id(self, token: Token, params: dict[str, str], now: int) -> Any:
        raw = params.get("group_ids") or params.get("group_id") or ""
        if not raw and token.kind == "community" and token.group_id is not None:
            raw = str(token.group_id)
        found = []
        for part in filter(None, (p.strip() for p in raw.split(","))):
            group = next(
                (g for g in self.groups.values() if part in (str(g.id), g.screen_name)), None
            )
            if group is None:
                raise VkError(100, f"invalid group id {part}")
            found.append(self._group_wire(group.id))
        if not found:
            raise VkError(100, "group_ids is undefined")
        return {"groups": found, "profiles": []}

    def _users_get(self, token: Token, params: dict[str, str], now: int) -> Any:
        ids = [p.strip() for p in params.get("user_ids", "").split(",") if p.strip()]
        if len(ids) > 1000:
            raise VkError(100, "too many user ids")
        found = []
        for part in ids:
            if not part.isdigit():
                raise VkError(113, f"invalid user id {part}")
            found.append(self._user_wire(int(part)))
        return found

    def _groups_get_long_poll_server(self, token: Token, params: dict[str, str], now: int) -> Any:
        group = self.groups.get(_int(params, "group_id"))
        if group is None:
            raise VkError(100, "group_id is invalid")
        if token.kind == "service":
            raise VkError(28)
        if token.kind != "community" or token.group_id != group.id:
            raise VkError(15, "a community token of this community is required")
        return {"key": group.longpoll_key, "ts": str(group.last_seq)}

    @staticmethod
    def _needs_read_token(token: Token) -> None:
        if token.kind == "community":
            raise VkError(27)
