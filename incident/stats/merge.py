"""A month's figures merged from its days' figures, exactly.

``compute_month`` reads a month day by day (one query for all its days, grouped by day) and
keeps each day's figures in ``MonthFigures.parts``; the month's own figures are their merge:
counts add up, and the sorted answer times of the days are sorted together (timsort merges
sorted runs in one pass). The cache then reads again only the days that changed and merges
them with the days it keeps (``replace_days``): the month's sorted times are then updated with
what changed in those days (usually nothing, or one answer), not sorted again.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from itertools import chain

from incident.stats.model import (
    SLOWEST_LIMIT,
    Counts,
    DayAnswers,
    MonthFigures,
    PersonMonth,
    slowest_first,
)


def sorted_runs(runs: Iterable[array[int]]) -> array[int]:
    """The values of sorted runs, sorted together."""
    return array("q", sorted(chain.from_iterable(runs)))


def updated_runs(
    current: array[int], before: Sequence[array[int]], after: Sequence[array[int]]
) -> array[int]:
    """``current`` (sorted, made of runs including ``before``) with the runs ``before``
    replaced by ``after``, sorted: ``current`` itself when they hold the same values, else
    a copy with the values gone taken out and the new ones put in by bisection (a few
    answers in a month of thousands), or all sorted again when much changed."""
    pairs = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    if not pairs:
        return current
    gone = Counter(chain.from_iterable(b for b, _ in pairs))
    came = Counter(chain.from_iterable(a for _, a in pairs))
    same = gone & came
    gone -= same
    came -= same
    moves = sum(gone.values()) + sum(came.values())
    if not moves:
        return current
    if moves * 64 > len(current):  # cheaper to sort it all again
        kept = Counter(current)
        kept.subtract(gone)
        kept.update(came)
        return array("q", sorted(kept.elements()))
    result = array("q", current)
    for value, n in gone.items():
        for _ in range(n):
            del result[bisect_left(result, value)]
    for value, n in came.items():
        for _ in range(n):
            result.insert(bisect_right(result, value), value)
    return result


def merge_days(
    start: datetime,
    end: datetime,
    days: int,
    parts: Mapping[int, MonthFigures],
    now: datetime,
    *,
    people: bool,
    base: MonthFigures | None = None,
    read: Collection[int] = (),
) -> MonthFigures:
    """The figures of the piece ``[start, end)`` of ``days`` local days from its days'
    figures (``parts``: day index in the piece -> that day's figures, each of one day).

    Computed for the latest of the parts' ``now`` (``now`` without parts) and valid until the
    earliest of their deadlines, so the merge holds exactly when every part does. With
    ``base``, the piece's figures before the days ``read`` were read again (``parts`` holds
    its other days unchanged): its sorted times are updated rather than sorted again."""
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
    empty = array("q")
    before = [base.parts[i] if base and i in base.parts else None for i in read]
    after = [parts.get(i) for i in read]

    def times(
        whole: array[int] | None, of: Callable[[MonthFigures | None], array[int]]
    ) -> array[int] | None:
        """The piece's sorted times from ``whole``'s, the days read changed: None without."""
        if whole is None:
            return None
        return updated_runs(whole, [of(p) for p in before], [of(p) for p in after])

    per_person: dict[str, PersonMonth] | None = None
    if people:
        by_person: dict[str, list[PersonMonth]] = defaultdict(list)
        for _, part in ordered:
            for person, figures in (part.people or {}).items():
                by_person[person].append(figures)
        per_person = {}
        kept = base.people if base is not None and base.people is not None else {}
        for person, mine in by_person.items():
            was = kept.get(person)

            theirs = [_person_part(p, person) for p in before]
            now_theirs = [_person_part(p, person) for p in after]
            working = calendar = None
            if was is not None:
                working = updated_runs(
                    was.working, [t.working for t in theirs], [t.working for t in now_theirs]
                )
                calendar = updated_runs(
                    was.calendar, [t.calendar for t in theirs], [t.calendar for t in now_theirs]
                )
            if working is None or calendar is None:
                per_person[person] = merge_person(mine)
                continue
            per_person[person] = PersonMonth(
                answers=sum(p.answers for p in mine),
                on_time=sum(p.on_time for p in mine),
                working=working,
                calendar=calendar,
                moves_to_private=sum(p.moves_to_private for p in mine),
                redirects=sum(p.redirects for p in mine),
                corrections=sum(p.corrections for p in mine),
            )
    working = times(base.working if base else None, lambda p: p.working if p else empty)
    calendar = times(base.calendar if base else None, lambda p: p.calendar if p else empty)
    return MonthFigures(
        start=start,
        end=end,
        per_topic=dict(per_topic),
        volume={k: tuple(v) for k, v in volume.items()},
        daily=daily,
        days=days,
        working=sorted_runs(p.working for _, p in ordered) if working is None else working,
        calendar=sorted_runs(p.calendar for _, p in ordered) if calendar is None else calendar,
        moves_to_private=sum(p.moves_to_private for _, p in ordered),
        redirects=sum(p.redirects for _, p in ordered),
        computed_for=computed_for,
        valid_until=valid_until,
        people=per_person,
        slowest=tuple(
            heapq.nsmallest(
                SLOWEST_LIMIT, chain.from_iterable(p.slowest for _, p in ordered), slowest_first
            )
        ),
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


_NOBODY = PersonMonth(0, 0, array("q"), array("q"), 0, 0, 0)


def _person_part(part: MonthFigures | None, person: str) -> PersonMonth:
    """``person``'s figures in a day's ``part`` (nothing when absent)."""
    found = (part.people or {}).get(person) if part is not None else None
    return _NOBODY if found is None else found


def replace_days(
    month: MonthFigures, fresh: Mapping[int, MonthFigures], read: Iterable[int], now: datetime
) -> MonthFigures:
    """``month`` with the days ``read`` again replaced by ``fresh`` (a day read again that is
    not in ``fresh`` has no incidents any more)."""
    gone = set(read)
    parts = {i: p for i, p in month.parts.items() if i not in gone}
    parts.update(fresh)
    return merge_days(
        month.start,
        month.end,
        month.days,
        parts,
        now,
        people=month.people is not None,
        base=month,
        read=sorted(gone),
    )
