"""Text from outside made storable: no comment can be refused by the database.

A platform may hand us strings no database column takes: PostgreSQL refuses the NUL character
in ``text`` and ``jsonb``, and neither database can encode a lone UTF-16 surrogate (valid JSON:
``"\\ud800"``) as UTF-8. One such comment used to fail its whole batch on every retry, so the
comments after it were never stored. Each of these characters becomes U+FFFD (the replacement
character): the rest of the text is kept exactly, and staff see where something was.

Everything else is kept as written; what is shown is made safe where it is shown
(``web.display``), exported or posted.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from incident.models import Batch, Comment, CommentChange

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD."""
    return _UNSTORABLE.sub(REPLACEMENT, text) if _UNSTORABLE.search(text) else text


def storable_json(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings, numbers) with every string, keys included,
    made storable; the same object when nothing needed it."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, Mapping):
        items = [(storable_text(str(k)), storable_json(v)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, value.items(), strict=True)):
            return value
        return dict(items)
    if isinstance(value, list | tuple):
        cleaned = [storable_json(v) for v in value]
        if all(a is b for a, b in zip(cleaned, value, strict=True)):
            return value
        return cleaned
    return value


def storable_comment(comment: Comment) -> Comment:
    """``comment`` with every text field and its raw payload made storable."""
    changes: dict[str, Any] = {}
    for name in (
        "community",
        "post_id",
        "external_id",
        "author_id",
        "text",
        "reply_to_id",
        "thread_root_id",
        "author_name",
    ):
        value = getattr(comment, name)
        if isinstance(value, str):
            cleaned = storable_text(value)
            if cleaned is not value:
                changes[name] = cleaned
    raw = storable_json(comment.raw)
    if raw is not comment.raw:
        changes["raw"] = raw
    return dataclasses.replace(comment, **changes) if changes else comment


def storable_change(change: CommentChange) -> CommentChange:
    """``change`` with its ids, event id and comment made storable."""
    changes: dict[str, Any] = {}
    for name in ("community", "external_id", "post_id", "event_id"):
        value = getattr(change, name)
        if isinstance(value, str):
            cleaned = storable_text(value)
            if cleaned is not value:
                changes[name] = cleaned
    if change.comment is not None:
        comment = storable_comment(change.comment)
        if comment is not change.comment:
            changes["comment"] = comment
    return dataclasses.replace(change, **changes) if changes else change


def storable_batch(batch: Batch) -> Batch:
    """``batch`` with every change and cursor made storable."""
    changes = tuple(storable_change(c) for c in batch.changes)
    cursors = {storable_text(k): storable_text(v) for k, v in batch.cursors.items()}
    snapshots = tuple(
        dataclasses.replace(
            s,
            community=storable_text(s.community),
            post_id=storable_text(s.post_id),
            alive=frozenset(storable_text(i) for i in s.alive),
        )
        for s in batch.snapshots
    )
    if (
        all(a is b for a, b in zip(changes, batch.changes, strict=True))
        and cursors == dict(batch.cursors)
        and snapshots == batch.snapshots
    ):
        return batch
    return dataclasses.replace(batch, changes=changes, cursors=cursors, snapshots=snapshots)
