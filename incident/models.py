"""The vocabulary shared by every layer, one home for each word.

Platforms, comments and their changes, batches, replies, incident and outbox states, topics and
their Russian labels, "unclassified", reply kinds, close reasons and the automatic actors. Every
other module imports these names from here. Nothing here imports from db, sources, web or daemon.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Platform(StrEnum):
    VK = "vk"
    OK = "ok"
    TELEGRAM = "telegram"


# The topic of a comment no rule matched well enough (a verdict's topic, a stored topic, a filter).
UNCLASSIFIED = "unclassified"

# Short Russian labels of the committee's topics, for charts, reports and alerts; the rules'
# own titles (rules/<topic>.toml) are longer and may be shown where there is room.
TOPIC_LABELS: Mapping[str, str] = {
    "trade": "Торговля",
    "services": "Бытовые услуги",
    "food": "Общепит",
    "telecom": "Связь",
    "finance": "Финансы",
    "transport": "Транспорт",
    "housing": "ЖКХ",
    "medical": "Медицина",
    "other": "Вне компетенции",
    "spam": "Спам",
    UNCLASSIFIED: "Без темы",
}

# Who acted, when it was not a person with an account:
WORKER = "worker"  # the worker on its own (an automatic action)
PLATFORM_ACTOR = "platform"  # a person answering in the platform's own interface
DEMO_OPERATOR = "demo-operator"  # `incident demo`'s robot that answers the oldest incident
# Actors whose answers are not a person's: never counted as answers, moves or redirects.
AUTOMATIC_ACTORS: tuple[str, ...] = (WORKER,)
# Actors that are not one member of staff: the per-person figures list them apart
# (``automatic`` in /api/stats) and never mix them into people's rows. The demo operator's
# and the platform's answers still count in the totals; the worker's count nowhere.
NOT_PEOPLE: tuple[str, ...] = (*AUTOMATIC_ACTORS, DEMO_OPERATOR, PLATFORM_ACTOR)
# How the actors without an account are named to people (history, exports, statistics).
ACTOR_LABELS: Mapping[str, str] = {
    WORKER: "система",
    DEMO_OPERATOR: "демо-оператор (автоматически)",
    PLATFORM_ACTOR: "сообщество на площадке",
}


class ReplyKind(StrEnum):
    """What a reply does for the citizen; reply templates and outbox rows carry one."""

    ANSWER = "answer"
    MOVE_TO_PRIVATE = "move-to-private"
    REDIRECT = "redirect"
    THANKS = "thanks"
    CLARIFY = "clarify"

    @property
    def label(self) -> str:
        """The kind in plain Russian, as staff see it."""
        return _REPLY_KIND_TITLES[self.value]


_REPLY_KIND_TITLES = {
    "answer": "ответ",
    "move-to-private": "в личные сообщения",
    "redirect": "в другое ведомство",
    "thanks": "благодарность",
    "clarify": "уточнить",
}


class CloseReason(StrEnum):
    """Why an incident needs no answer."""

    SPAM = "spam"
    ABUSE = "abuse"
    DUPLICATE = "duplicate"
    ALREADY_ANSWERED = "already_answered"
    CONVERSATION = "conversation"  # citizens talking among themselves, nothing asked of us

    @property
    def label(self) -> str:
        return {
            "spam": "спам",
            "abuse": "оскорбления",
            "duplicate": "дубликат",
            "already_answered": "уже ответили",
            "conversation": "ответ не требуется: разговор пользователей",
        }[self.value]


# Why an incident was closed, besides a person's ``CloseReason``: its comment was deleted.
DELETED_BY_AUTHOR = "deleted"


def closed_reason_label(reason: str | None) -> str:
    """The stored close reason in plain Russian ("" for none; an unknown code as it is)."""
    if not reason:
        return ""
    if reason == DELETED_BY_AUTHOR:
        return "комментарий удалён"
    try:
        return CloseReason(reason).label
    except ValueError:
        return reason


class ChangeKind(StrEnum):
    NEW = "new"
    EDIT = "edit"
    DELETE = "delete"
    RESTORE = "restore"


class IncidentStatus(StrEnum):
    OPEN = "open"  # waiting for a public answer
    ANSWERED = "answered"  # the community answered publicly (from here or on the platform)
    CLOSED = "closed"  # no answer needed (spam, abuse, duplicate, ...)


class OutboxStatus(StrEnum):
    PENDING = "pending"  # queued, not yet tried (or due for a retry)
    SENDING = "sending"  # claimed by a worker under a lease
    POSTED = "posted"  # the platform accepted it
    FAILED = "failed"  # permanently refused; the reason is stored


class SourceState(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"  # last run failed with a transient error; retried on schedule
    STOPPED = "stopped"  # a permanent fault (broken token, captcha): needs a human


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


@dataclass(frozen=True, slots=True)
class Comment:
    """One comment as a platform reported it, normalised to our vocabulary.

    ``community`` is the platform's id of the page (VK: the group id as a positive decimal
    string); ``external_id`` is the comment's id, unique within (platform, community).
    """

    platform: Platform
    community: str
    post_id: str
    external_id: str
    author_id: str
    text: str
    created_at: datetime
    from_community: bool = False
    reply_to_id: str | None = None  # the comment this one answers, if any
    thread_root_id: str | None = None  # the top-level comment of its thread; None if top-level
    author_name: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_aware(self.created_at, "created_at")


@dataclass(frozen=True, slots=True)
class CommentChange:
    """Something that happened to a comment: it appeared, was edited, deleted or restored."""

    kind: ChangeKind
    platform: Platform
    community: str
    external_id: str
    post_id: str
    comment: Comment | None = None  # None only for DELETE
    event_id: str | None = None  # the platform's dedupe key for a pushed event

    def __post_init__(self) -> None:
        if self.kind is not ChangeKind.DELETE and self.comment is None:
            raise ValueError(f"a {self.kind} change needs the comment")


@dataclass(frozen=True, slots=True)
class PostSnapshot:
    """Every comment a post shows now, read completely by a full sweep (``Source.sweep`` with
    ``full=True``): the ids of the live ones. A stored comment of the post written before
    ``taken_at`` that is not among them was deleted; a stored deleted one that is among them
    was restored."""

    platform: Platform
    community: str
    post_id: str
    alive: frozenset[str]
    taken_at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.taken_at, "taken_at")


@dataclass(frozen=True, slots=True)
class Batch:
    """Changes and the cursor values that passed them, to be committed in one transaction.

    ``cursors`` maps a source-defined key to its new value (a string, often JSON).
    ``needs_sweep`` asks the caller to run a sweep because pushed events may have been lost.
    ``snapshots``: posts read completely, applied after the changes (see ``PostSnapshot``).
    """

    changes: tuple[CommentChange, ...] = ()
    cursors: Mapping[str, str] = field(default_factory=dict)
    needs_sweep: bool = False
    api_calls: int = 0
    snapshots: tuple[PostSnapshot, ...] = ()


@dataclass(frozen=True, slots=True)
class OutgoingReply:
    """A reply to post as the community. ``idempotency_key`` is stable across retries."""

    outbox_id: int
    idempotency_key: str
    community: str
    post_id: str
    reply_to_id: str
    text: str


@dataclass(frozen=True, slots=True)
class PostedReply:
    external_id: str
    url: str | None = None
