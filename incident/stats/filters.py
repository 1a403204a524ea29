"""What the supervisor chose (``Filters``), its months, and the SQL conditions each filter means.

The period selects incidents by ``opened_at`` (the raw clock start), half-open ``[start, end)``;
days are local days in the deployment's time zone. The person filter matches incidents that
person answered or is assigned to. Only human answers count: ``human_answer`` is the one
definition of "answered by a person".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_

from incident import db
from incident.models import AUTOMATIC_ACTORS, UNCLASSIFIED

incident = db.incidents.c  # the incidents table's columns, as in SQL's "incidents AS incident"

# The local days a period may cover: far wider than the service's life, and narrow enough that
# every local midnight, month end and UTC instant of them is a date Python and both databases
# hold (years 1 and 9999 are not: their neighbours in UTC or the next month overflow).
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
OUT_OF_RANGE = f"Выберите даты с {FIRST_DAY.year} по {LAST_DAY.year} год."


def in_range(day: date) -> bool:
    """Whether ``day`` is one a period may cover (``FIRST_DAY`` .. ``LAST_DAY``)."""
    return FIRST_DAY <= day <= LAST_DAY


@dataclass(frozen=True, slots=True)
class Filters:
    """What the supervisor chose. ``start``/``end``: aware datetimes, ``[start, end)``."""

    start: datetime
    end: datetime
    community: str | None = None
    platform: str | None = None
    topic: str | None = None
    person: str | None = None
    timezone: str = "Europe/Moscow"

    def __post_init__(self) -> None:
        for value, name in ((self.start, "start"), (self.end, "end")):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, got {value!r}")
        if not self.start < self.end:
            raise ValueError(f"the period is empty: {self.start} .. {self.end}")
        ZoneInfo(self.timezone)  # raises on an unknown zone

    @property
    def tz(self) -> ZoneInfo:
        """The time zone the local days are counted in."""
        return ZoneInfo(self.timezone)

    @classmethod
    def for_days(
        cls, first: date, last: date, timezone: str = "Europe/Moscow", **kw: str | None
    ) -> Filters:
        """The local days ``first`` .. ``last`` inclusive."""
        tz = ZoneInfo(timezone)
        return cls(
            start=datetime.combine(first, time(0), tzinfo=tz),
            end=datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz),
            timezone=timezone,
            **kw,
        )

    @classmethod
    def for_month(
        cls, year: int, month: int, timezone: str = "Europe/Moscow", **kw: str | None
    ) -> Filters:
        """The local calendar month ``year``-``month``."""
        first = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls.for_days(first, following - timedelta(days=1), timezone, **kw)

    def local_days(self) -> tuple[date, ...]:
        """Every local day the period touches, in order."""
        tz = self.tz
        first = self.start.astimezone(tz).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(tz).date()
        return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))


def months(filters: Filters) -> list[Filters]:
    """The period cut at local month starts: the pieces the cache keeps apart (the first and
    last may be parts of a month); the other filters are kept."""
    tz = filters.tz
    pieces: list[Filters] = []
    start = filters.start
    while start < filters.end:
        local = start.astimezone(tz)
        following = date(local.year + local.month // 12, local.month % 12 + 1, 1)
        end = min(filters.end, datetime.combine(following, time(0), tzinfo=tz))
        pieces.append(replace(filters, start=start, end=end))
        start = end
    return pieces


def human_answer() -> ColumnElement[bool]:
    """An incident has a first answer by a person: staff, or ``"platform"`` (typed in the
    platform's own interface), not an automatic actor (``AUTOMATIC_ACTORS``)."""
    return and_(
        incident.first_response_at.is_not(None),
        func.coalesce(incident.first_response_by, "").not_in(AUTOMATIC_ACTORS),
    )


def scope(filters: Filters, *, period: bool = True) -> list[ColumnElement[bool]]:
    """The conditions on incidents that ``filters`` mean: the one definition of each filter,
    shared by the statistics and the exports. ``period=False`` leaves the period out (the
    queue "now" figures)."""
    conds: list[ColumnElement[bool]] = []
    if period:
        conds += [incident.opened_at >= filters.start, incident.opened_at < filters.end]
    if filters.community is not None:
        conds.append(incident.community == filters.community)
    if filters.platform is not None:
        conds.append(incident.platform == filters.platform)
    if filters.topic == UNCLASSIFIED:
        conds.append(or_(incident.topic.is_(None), incident.topic == UNCLASSIFIED))
    elif filters.topic is not None:
        conds.append(incident.topic == filters.topic)
    if filters.person is not None:
        conds.append(
            or_(incident.first_response_by == filters.person, incident.assignee == filters.person)
        )
    return conds
