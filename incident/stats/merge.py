"""A month's figures merged from its days' figures, exactly.

``compute_month`` reads a month day by day (one query for all its days, grouped by day) and
keeps each day's figures in ``MonthFigures.parts``; the month's own figures are their merge:
counts add up, and the sorted answer times of the days are sorted together (timsort merges
sorted runs in one pass). The cache then reads again only the days that changed and merges
them with the days it keeps (``replace_days``).
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from itertools import chain

from incident.stats.model import Counts, DayAnswers, MonthFigures, PersonMonth


def sorted_runs(runs: Iterable[array[int]]) -> array[int]:
    """The values of sorted runs, sorted together."""
    return array("q", sorted(chain.from_iterable(runs)))


def merge_days(
    start: datetime,
    end: datetime,
    days: int,
    parts: Mapping[int, MonthFigures],
    now: datetime,
    *,
    people: bool,
) -> MonthFigures:
    """The figures of the piece ``[start, end)`` of ``days`` local days from its days'
    figures (``parts``: day index in the piece -> that day's figures, each of one day).

    Computed for the latest of the parts' ``now`` (``now`` without parts) and valid until the
    earliest of their deadlines, so the merge holds exactly when every part does."""
    ordered = sorted(parts.items())
    per_topic: dict[str, Counts] = defaultdict(Counts)
    volume: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    daily: dict[int, DayAnswers] = {}
    confirmed: dict[str, int] = defaultdict(int)
    corrected: dict[tuple[str, str], int] = defaultdict(int)
    valid_until: datetime | None = None
    computed_for = now if not ordered else max(p.computed_for for _, p in ordered)
    for i, part in ordered:
        for topic, counts in part.per_topic.items():
            per_topic[topic] = per_topic[topic].plus(counts)
        for topic, (n,) in part.volume.items():
            volume[topic][i] += n
        if 0 in part.daily:
            daily[i] = part.daily[0]
        for topic, n in part.confirmed.items():
            confirmed[topic] += n
        for change, n in part.corrected.items():
            corrected[change] += n
        if part.valid_until is not None and (valid_until is None or part.valid_until < valid_until):
            valid_until = part.valid_until
    per_person: dict[str, PersonMonth] | None = None
    if people:
        by_person: dict[str, list[PersonMonth]] = defaultdict(list)
        for _, part in ordered:
            for person, mine in (part.people or {}).items():
                by_person[person].append(mine)
        per_person = {person: merge_person(mine) for person, mine in by_person.items()}
    return MonthFigures(
        start=start,
        end=end,
        per_topic=dict(per_topic),
        volume={k: tuple(v) for k, v in volume.items()},
        daily=daily,
        days=days,
        working=sorted_runs(p.working for _, p in ordered),
        calendar=sorted_runs(p.calendar for _, p in ordered),
        moves_to_private=sum(p.moves_to_private for _, p in ordered),
        redirects=sum(p.redirects for _, p in ordered),
        computed_for=computed_for,
        valid_until=valid_until,
        people=per_person,
        confirmed=dict(confirmed),
        corrected=dict(corrected),
        parts=dict(ordered),
    )


def merge_person(parts: list[PersonMonth]) -> PersonMonth:
    """One actor's figures over several days (or months)."""
    if len(parts) == 1:
        return parts[0]
    return PersonMonth(
        answers=sum(p.answers for p in parts),
        on_time=sum(p.on_time for p in parts),
        working=sorted_runs(p.working for p in parts),
        calendar=sorted_runs(p.calendar for p in parts),
        moves_to_private=sum(p.moves_to_private for p in parts),
        redirects=sum(p.redirects for p in parts),
        corrections=sum(p.corrections for p in parts),
    )


def replace_days(
    month: MonthFigures, fresh: Mapping[int, MonthFigures], read: Iterable[int], now: datetime
) -> MonthFigures:
    """``month`` with the days ``read`` again replaced by ``fresh`` (a day read again that is
    not in ``fresh`` has no incidents any more)."""
    gone = set(read)
    parts = {i: p for i, p in month.parts.items() if i not in gone}
    parts.update(fresh)
    return merge_days(
        month.start, month.end, month.days, parts, now, people=month.people is not None
    )
