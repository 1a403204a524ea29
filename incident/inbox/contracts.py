"""What ingest is handed and what it hands back: the deadline, classifier and response-figure
policies (with their simplest implementations) and the result counts.

The real policies are built in ``incident.wiring`` from the configuration; the inbox only calls
them, so it knows nothing of working hours, rules or settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from incident.models import Comment


@dataclass(frozen=True, slots=True)
class Classification:
    """A classifier's answer, stored with the incident: the topic, the verdict (JSON, with
    its explanation) and the version of the rules that produced it."""

    topic: str | None
    verdict: Mapping[str, Any] | None
    ruleset_version: str | None

    @property
    def urgent(self) -> bool:
        """Whether the verdict flags the comment urgent (poisoning, no heating...)."""
        flags = self.verdict.get("flags") if self.verdict is not None else None
        return isinstance(flags, list | tuple) and "urgent" in flags


# (comment, the author's earlier texts, newest first) -> classification
Classifier = Callable[[Comment, Sequence[str]], Classification]
# (opened_at, first answer at, due_at) -> the columns stored with the first answer
ResponseFigures = Callable[[datetime, datetime, datetime | None], dict[str, Any]]


class DueTimes(NamedTuple):
    """An incident's clock as a deadline policy sets it; stored as ``opened_at``, ``due_at``
    and ``warn_at``. ``due_at`` None: no deadline (and then no ``warn_at`` either)."""

    opened_at: datetime  # when the response clock started
    due_at: datetime | None  # the first answer is late after this moment
    warn_at: datetime | None  # the staff are warned from this moment (never after due_at)


# (comment, seen_at, topic, urgent) -> its clock
DeadlinePolicy = Callable[[Comment, datetime, str | None, bool], DueTimes]

CALENDAR_WARN_SHARE = 0.75  # calendar_hours warns when this share of the hours has passed


def calendar_hours(hours: float, warn_share: float = CALENDAR_WARN_SHARE) -> DeadlinePolicy:
    """The simplest policy: the clock starts at publication and runs ``hours`` calendar hours;
    the warning comes when ``warn_share`` of them (default 75 %) have passed. Tests and the
    demo's fakes use it; the worker uses ``wiring.working_hours_policy``."""
    if not 0 < warn_share <= 1:
        raise ValueError("warn_share must be in (0, 1]")

    def policy(comment: Comment, seen_at: datetime, topic: str | None, urgent: bool) -> DueTimes:
        start = comment.created_at
        return DueTimes(
            start, start + timedelta(hours=hours), start + timedelta(hours=hours * warn_share)
        )

    return policy


def no_figures(
    opened_at: datetime, answered_at: datetime, due_at: datetime | None
) -> dict[str, Any]:
    """Store nothing extra with a first answer."""
    return {}


def no_classification(comment: Comment, history: Sequence[str]) -> Classification:
    """Leave every incident without a topic or verdict."""
    return Classification(None, None, None)


@dataclass(slots=True)
class IngestResult:
    """What one or more ``ingest`` calls did; every change of a batch is counted once."""

    stored: int = 0  # new comment rows
    incidents: int = 0  # new incidents opened
    answered: int = 0  # incidents answered directly on the platform
    duplicates: int = 0  # changes already stored (replays, repeated events)
    updated: int = 0  # edits, deletes, restores applied
    follow_ups: int = 0  # comments that joined their author's open incident in the thread

    def add(self, other: IngestResult) -> None:
        """Add ``other``'s counts to these (a sweep sums its batches)."""
        self.stored += other.stored
        self.incidents += other.incidents
        self.answered += other.answered
        self.duplicates += other.duplicates
        self.updated += other.updated
        self.follow_ups += other.follow_ups
