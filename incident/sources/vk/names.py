"""Author names for long-poll events, which carry none: asked of ``users.get`` and cached.

Names are a courtesy: no fault of ``users.get`` (not even one that looks permanent, such as
VK's error 5) may hold back or stop intake. A comment that went without its author's name is
remembered, and once a later ``users.get`` answers, an EDIT change with the same text and the
name goes out with that batch: the inbox fills the stored comment's name in."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from incident.models import ChangeKind, CommentChange
from incident.sources.base import SourceError
from incident.sources.vk.calls import ApiRefusal, TokenRole, VkCaller
from incident.sources.vk.wire import as_int

log = logging.getLogger(__name__)

MAX_CACHED = 100_000  # names a cache keeps (about 10 MB); the least recently used go first
MAX_UNNAMED = 1_000  # comments remembered to name later; beyond that the oldest go unnamed
RETRY_SECONDS = 60.0  # after a failed users.get, the names it owes are asked again this late


class NameCache:
    """Author names by VK user id: bounded (the least recently used go first) and safe to share
    between threads. A worker's VK sources share one (``build.py``): the same citizens write
    under several communities' posts, and a name asked by one source is known to all."""

    def __init__(self, limit: int = MAX_CACHED) -> None:
        self._names: OrderedDict[int, str] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def get(self, user_id: int) -> str | None:
        with self._lock:
            name = self._names.get(user_id)
            if name is not None:
                self._names.move_to_end(user_id)
            return name

    def __contains__(self, user_id: object) -> bool:
        with self._lock:
            return user_id in self._names

    def put(self, user_id: int, name: str) -> None:
        with self._lock:
            self._names[user_id] = name
            self._names.move_to_end(user_id)
            while len(self._names) > self._limit:
                self._names.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._names)


class AuthorNames:
    """Fills in author names through the community client, one ``users.get`` per batch."""

    def __init__(self, caller: VkCaller, client: Any, names: NameCache | None = None) -> None:
        self._caller = caller
        self._client = client
        self._names = names if names is not None else NameCache()
        self._unnamed: dict[tuple[str, str], CommentChange] = {}  # (post, comment) -> change
        self._retry_at = 0.0  # time.monotonic() after which the owed names are asked again

    def fill(self, changes: tuple[CommentChange, ...]) -> tuple[CommentChange, ...]:
        """Long-poll events carry no author names; staff need them. Ask ``users.get`` once per
        batch for authors not seen before (names are cached per instance). Names are a
        courtesy: if VK does not answer, the changes go on without them, and the names follow
        with a later batch (see the module's docstring)."""
        fresh = self._unknown(changes)
        # The names owed after a failure ride along with the next call there is anyway, or
        # get one of their own once RETRY_SECONDS have passed; never a call every round.
        due = bool(fresh) or time.monotonic() >= self._retry_at
        earlier = tuple(self._unnamed.values()) if due else ()
        unknown = fresh | self._unknown(earlier)
        failed = False
        if unknown:
            ids = ",".join(str(i) for i in sorted(unknown)[:1000])

            def attempt() -> dict[str, Any]:
                users = self._client.method("users.get", {"user_ids": ids})
                if not isinstance(users, list):
                    raise ValueError("users.get did not return a list")
                return {"items": users}

            try:
                found = self._caller.run(TokenRole.COMMUNITY, "users.get", attempt)["items"]
            except (SourceError, ApiRefusal) as exc:
                log.warning("vk author names unavailable", extra={"problem": str(exc)})
                found, failed = [], True
            except Exception as exc:  # a bug in a courtesy must not stop intake either
                log.warning("vk author names failed", extra={"problem": repr(exc)})
                found, failed = [], True
            for user in found:
                if isinstance(user, dict) and as_int(user.get("id")) is not None:
                    name = f"{user.get('first_name', '')} {user.get('last_name', '')}".strip()
                    self._names.put(int(user["id"]), name)
        named = tuple(_named(c, self._names) for c in changes)
        later = self._named_later(earlier)
        if failed:
            self._remember_unnamed(named)
            self._retry_at = time.monotonic() + RETRY_SECONDS
        elif unknown:
            # VK answered: an author it did not name has none to give (a deleted account)
            for change in earlier:
                assert change.comment is not None
                self._unnamed.pop((change.comment.post_id, change.comment.external_id), None)
        return named + later

    def _unknown(self, changes: tuple[CommentChange, ...]) -> set[int]:
        return {
            int(c.comment.author_id)
            for c in changes
            if c.comment is not None
            and c.comment.author_name is None
            and c.comment.author_id.isdigit()
            and int(c.comment.author_id) not in self._names
        }

    def _remember_unnamed(self, changes: tuple[CommentChange, ...]) -> None:
        for change in changes:
            c = change.comment
            if change.kind is ChangeKind.NEW and c is not None and _nameable(change):
                self._unnamed[(c.post_id, c.external_id)] = change
        while len(self._unnamed) > MAX_UNNAMED:
            del self._unnamed[next(iter(self._unnamed))]

    def _named_later(self, earlier: tuple[CommentChange, ...]) -> tuple[CommentChange, ...]:
        """EDIT changes carrying the names found now for comments that went out without."""
        out = []
        for change in earlier:
            named = _named(change, self._names)
            if named is change:
                continue  # still no name: keep waiting
            assert named.comment is not None
            del self._unnamed[(named.comment.post_id, named.comment.external_id)]
            out.append(replace(named, kind=ChangeKind.EDIT, event_id=None))
        return tuple(out)


def _nameable(change: CommentChange) -> bool:
    c = change.comment
    return c is not None and c.author_name is None and c.author_id.isdigit()


def _named(change: CommentChange, names: NameCache) -> CommentChange:
    c = change.comment
    if c is None or not _nameable(change):
        return change
    name = names.get(int(c.author_id))
    return change if not name else replace(change, comment=replace(c, author_name=name))
