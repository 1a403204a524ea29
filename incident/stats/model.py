"""The figures' shapes: one month's figures (``MonthFigures``) and a period's (``Stats``).

Frozen values only; how they are computed is in ``compute``, how a month is kept in ``cache``.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from incident.models import AUTOMATIC_ACTORS
from incident.stats.filters import Filters

SLOWEST_LIMIT = 10  # the slowest answers listed


@dataclass(frozen=True, slots=True)
class TopicRow:
    """One topic's line of the per-topic table."""

    topic: str
    comments: int
    answered: int
    on_time: int
    overdue: int  # past due at ``now`` without a human answer, not closed


@dataclass(frozen=True, slots=True)
class TopicCheckRow:
    """How staff judged the classifier's topic of the period's incidents, for one topic."""

    topic: str
    confirmed: int  # «верно»: a person said this topic is right
    corrected_from: int  # a person changed this topic to another: it was wrong
    corrected_to: int  # a person changed another topic to this one
    right_share: float | None  # confirmed / (confirmed + corrected_from); None with neither


@dataclass(frozen=True, slots=True)
class PlatformRow:
    """One platform's line of the per-platform table: the figures of the same filters narrowed
    to that platform (``by_platform``), so each line means exactly what the page's totals do."""

    platform: str
    comments: int
    answered: int
    closed_without_answer: int
    on_time: int
    late: int
    overdue: int  # past due at ``now`` without a human answer, not closed
    median_working_hours: float | None
    p90_working_hours: float | None
    median_hours: float | None
    p90_hours: float | None
    moves_to_private: int
    redirects: int

    @classmethod
    def of(cls, platform: str, figures: Stats) -> PlatformRow:
        """The line of ``figures`` computed for ``platform`` alone."""
        return cls(
            platform=platform,
            comments=figures.comments,
            answered=figures.answered,
            closed_without_answer=figures.closed_without_answer,
            on_time=figures.on_time,
            late=figures.late,
            overdue=figures.overdue_unanswered,
            median_working_hours=figures.median_working_hours,
            p90_working_hours=figures.p90_working_hours,
            median_hours=figures.median_hours,
            p90_hours=figures.p90_hours,
            moves_to_private=figures.moves_to_private,
            redirects=figures.redirects,
        )

    @property
    def on_time_share(self) -> float | None:
        """On time over the incidents whose fate is known (as ``Stats.on_time_share``)."""
        known = self.answered + self.overdue
        return self.on_time / known if known else None

    @property
    def answered_share(self) -> float | None:
        """Answered over the incidents that needed an answer (as ``Stats.answered_share``)."""
        needed = self.comments - self.closed_without_answer
        return self.answered / needed if needed else None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, the shares included."""
        data = asdict(self)
        data["on_time_share"] = self.on_time_share
        data["answered_share"] = self.answered_share
        return data


@dataclass(frozen=True, slots=True)
class PersonRow:
    """One actor's line of the per-person table: the period's incidents that actor gave the
    first answer to, and what else they did to them (``compute``'s docstring defines each)."""

    person: str  # the user name (or an actor of ``models.NOT_PEOPLE``)
    answers: int  # first answers to the period's incidents
    on_time: int  # of those, by the deadline
    median_working_hours: float | None
    p90_working_hours: float | None
    median_hours: float | None
    p90_hours: float | None
    moves_to_private: int
    redirects: int
    corrections: int  # topic corrections made to the period's incidents
    open_assigned: int  # open incidents assigned to them now (the period ignored)

    @property
    def on_time_share(self) -> float | None:
        """On time over the person's answers."""
        return self.on_time / self.answers if self.answers else None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, the share included."""
        data = asdict(self)
        data["on_time_share"] = self.on_time_share
        return data


@dataclass(frozen=True, slots=True)
class DailyResponse:
    """One local day's human answers (to that day's incidents) and their median times."""

    day: date
    answered: int
    median_working_hours: float | None
    median_hours: float | None


@dataclass(frozen=True, slots=True)
class SlowIncident:
    """One of the slowest answers, in working hours, with a link to its card."""

    id: int
    community: str
    platform: str
    topic: str
    opened_at: datetime
    first_response_at: datetime
    first_response_by: str | None
    working_hours: float
    hours: float

    @property
    def url(self) -> str:
        """The incident card's address in the web app."""
        return f"/incidents/{self.id}"


def slowest_first(row: SlowIncident) -> tuple[float, int]:
    """The order of the slowest answers: the longest in working hours first, then by id (as
    ``ORDER BY response_working_seconds DESC, id``: whole seconds over 3600 keep their order)."""
    return (-row.working_hours, row.id)


@dataclass(frozen=True, slots=True)
class Stats:
    """Every figure of the statistics page for ``filters`` as of ``now`` (see ``compute``)."""

    filters: Filters
    now: datetime
    comments: int
    answered: int
    closed_without_answer: int
    on_time: int
    late: int  # answered after the deadline
    overdue_unanswered: int  # opened in the period, past due, no human answer, not closed
    median_working_hours: float | None
    p90_working_hours: float | None
    median_hours: float | None
    p90_hours: float | None
    open_now: int
    overdue_now: int
    moves_to_private: int
    redirects: int
    days: tuple[date, ...]
    # (topic, counts per day aligned with ``days``), the busiest topic first
    daily_volume: tuple[tuple[str, tuple[int, ...]], ...]
    daily_response: tuple[DailyResponse, ...]  # aligned with ``days``
    by_topic: tuple[TopicRow, ...]
    slowest: tuple[SlowIncident, ...]
    automatic_actors: tuple[str, ...] = field(default=AUTOMATIC_ACTORS)
    # confirmations («верно») and corrections of the topic, per topic, most judged first
    topic_checks: tuple[TopicCheckRow, ...] = ()
    confirmed: int = 0
    corrected: int = 0
    # The per-person table (``compute(..., people=True)``): staff, the busiest first; the
    # actors that are not one member of staff (``models.NOT_PEOPLE``) apart; and the staff's
    # rows together (its times over all their answers). Empty / None when not computed.
    people: tuple[PersonRow, ...] = ()
    automatic: tuple[PersonRow, ...] = ()
    people_total: PersonRow | None = None

    @property
    def on_time_share(self) -> float | None:
        """On time over the incidents whose fate is known (answered, or past due unanswered)."""
        known = self.answered + self.overdue_unanswered
        return self.on_time / known if known else None

    @property
    def answered_share(self) -> float | None:
        """Answered over the incidents that needed an answer."""
        needed = self.comments - self.closed_without_answer
        return self.answered / needed if needed else None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types only: dates and datetimes as ISO 8601 strings."""
        data = asdict(self)
        data["on_time_share"] = self.on_time_share
        data["answered_share"] = self.answered_share
        data["daily_volume"] = {topic: list(counts) for topic, counts in self.daily_volume}
        for item, row in zip(data["slowest"], self.slowest, strict=True):
            item["url"] = row.url
        data["people"] = [p.to_json() for p in self.people]
        data["automatic"] = [p.to_json() for p in self.automatic]
        data["people_total"] = self.people_total.to_json() if self.people_total else None
        result: dict[str, Any] = _jsonable(data)
        return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class Counts(NamedTuple):
    """How many incidents of a topic (on a day, in a month or the period) are in each state."""

    comments: int = 0
    answered: int = 0  # by a person
    on_time: int = 0  # answered by the deadline
    late: int = 0  # answered after the deadline
    closed_without_answer: int = 0
    overdue: int = 0  # past due at ``now`` without a human answer, not closed

    def plus(self, other: Counts) -> Counts:
        """Both counts added field by field."""
        return Counts(
            comments=self.comments + other.comments,
            answered=self.answered + other.answered,
            on_time=self.on_time + other.on_time,
            late=self.late + other.late,
            closed_without_answer=self.closed_without_answer + other.closed_without_answer,
            overdue=self.overdue + other.overdue,
        )

    @staticmethod
    def total(many: Iterable[Counts]) -> Counts:
        """The sum of ``many`` (all zero when there are none)."""
        result = Counts()
        for counts in many:
            result = result.plus(counts)
        return result


class PersonMonth(NamedTuple):
    """One actor's figures in one month (or piece) of the period, as the cache keeps them."""

    answers: int
    on_time: int
    working: array[int]  # sorted working seconds of their first answers
    calendar: array[int]  # sorted calendar seconds
    moves_to_private: int
    redirects: int
    corrections: int


class DayAnswers(NamedTuple):
    """The human answers to one local day's incidents: how many, and their median times."""

    answered: int
    median_working_hours: float | None
    median_hours: float | None


@dataclass(frozen=True, slots=True)
class MonthFigures:
    """The figures of one calendar month of the period (or the clipped piece of one): what the
    statistics cache keeps, and what merges into a period's figures.

    Everything here depends on the incidents opened in ``[start, end)`` only, and on ``now``
    only through the overdue counts, which hold until ``valid_until`` (the earliest deadline
    still ahead; None: none ahead, they hold until an incident changes)."""

    start: datetime
    end: datetime
    per_topic: Mapping[str, Counts]
    volume: Mapping[str, tuple[int, ...]]  # topic -> comments per local day of the month
    daily: Mapping[int, DayAnswers]  # local day of the month (0 = its first) -> its answers
    working: array[int]  # sorted working seconds of the human answers
    calendar: array[int]  # sorted calendar seconds of the human answers
    days: int  # local days in the month
    moves_to_private: int
    redirects: int
    computed_for: datetime
    valid_until: datetime | None
    people: Mapping[str, PersonMonth] | None = None  # actor -> figures; None: not computed
    # its ``SLOWEST_LIMIT`` slowest human answers (``slowest_first`` order)
    slowest: tuple[SlowIncident, ...] = ()
    confirmed: Mapping[str, int] = field(default_factory=dict)  # topic -> confirmations
    # (from topic or UNCLASSIFIED, to topic) -> corrections of the month's incidents
    corrected: Mapping[tuple[str, str], int] = field(default_factory=dict)
    # The same figures of each local day (index in the month -> that day's figures, days
    # without incidents left out), which they merge from: the cache reads again only the
    # days that changed. Empty for a day's own figures.
    parts: Mapping[int, MonthFigures] = field(default_factory=dict)

    def holds_at(self, now: datetime) -> bool:
        """Whether these figures are still those of ``now``."""
        return self.computed_for <= now and (self.valid_until is None or now < self.valid_until)
