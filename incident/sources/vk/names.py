"""Author names for long-poll events, which carry none: asked of ``users.get`` and cached."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from incident.models import CommentChange
from incident.sources.base import TransientSourceError
from incident.sources.vk.calls import ApiRefusal, TokenRole, VkCaller
from incident.sources.vk.wire import as_int

log = logging.getLogger(__name__)

MAX_CACHED = 50_000  # names kept per source instance before the cache starts over


class AuthorNames:
    """Fills in author names through the community client, one ``users.get`` per batch."""

    def __init__(self, caller: VkCaller, client: Any) -> None:
        self._caller = caller
        self._client = client
        self._names: dict[int, str] = {}

    def fill(self, changes: tuple[CommentChange, ...]) -> tuple[CommentChange, ...]:
        """Long-poll events carry no author names; staff need them. Ask ``users.get`` once per
        batch for authors not seen before (names are cached per instance). Names are a
        courtesy: if VK does not answer, the changes go on without them."""
        unknown = {
            int(c.comment.author_id)
            for c in changes
            if c.comment is not None
            and c.comment.author_name is None
            and c.comment.author_id.isdigit()
            and int(c.comment.author_id) not in self._names
        }
        if unknown:
            ids = ",".join(str(i) for i in sorted(unknown)[:1000])

            def attempt() -> dict[str, Any]:
                users = self._client.method("users.get", {"user_ids": ids})
                if not isinstance(users, list):
                    raise ValueError("users.get did not return a list")
                return {"items": users}

            try:
                found = self._caller.run(TokenRole.COMMUNITY, "users.get", attempt)["items"]
            except (TransientSourceError, ApiRefusal) as exc:
                log.warning("vk author names unavailable", extra={"problem": str(exc)})
                found = []
            for user in found:
                if isinstance(user, dict) and as_int(user.get("id")) is not None:
                    name = f"{user.get('first_name', '')} {user.get('last_name', '')}".strip()
                    if len(self._names) > MAX_CACHED:
                        self._names.clear()
                    self._names[int(user["id"])] = name
        return tuple(_named(c, self._names) for c in changes)


def _named(change: CommentChange, names: Mapping[int, str]) -> CommentChange:
    c = change.comment
    if c is None or c.author_name is not None or not c.author_id.isdigit():
        return change
    name = names.get(int(c.author_id))
    return change if not name else replace(change, comment=replace(c, author_name=name))
