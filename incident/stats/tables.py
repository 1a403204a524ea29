"""The daily volume of a ``Stats`` regrouped as a table by day, week or month."""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

from incident.stats.model import Stats


class VolumeRow(NamedTuple):
    """One line of the volume table: a day, a week or a month, clipped to the period.

    ``label``: the first day (YYYY-MM-DD) for a day or a week, YYYY-MM for a month;
    ``first`` and ``last``: the period's days it covers; ``partial``: the week or month was
    cut by the period's start or end (a November period's first week starts on 1 November,
    not on the Monday before)."""

    label: str
    counts: tuple[int, ...]
    first: date
    last: date
    partial: bool


def volume_table(stats: Stats, by: str = "month") -> tuple[tuple[str, ...], list[VolumeRow]]:
    """Volume by topic over time as a table: (topics, rows), each row a ``VolumeRow``.

    ``by``: "day", "week" (Monday to Sunday) or "month". The first and the last week or month
    start and end where the period does and are marked ``partial``."""
    if by not in ("day", "week", "month"):
        raise ValueError(f"by must be day, week or month, got {by!r}")

    def span(d_: date) -> tuple[date, date]:
        """The whole day, week or month ``d_`` falls in."""
        if by == "month":
            following = date(d_.year + d_.month // 12, d_.month % 12 + 1, 1)
            return d_.replace(day=1), following - timedelta(days=1)
        if by == "week":
            monday = d_ - timedelta(days=d_.weekday())
            return monday, monday + timedelta(days=6)
        return d_, d_

    topics = tuple(t for t, _ in stats.daily_volume)
    rows: list[VolumeRow] = []
    counts: list[int] = []
    whole: tuple[date, date] | None = None
    first = last = None
    for i, d_ in enumerate(stats.days):
        if whole is None or d_ > whole[1]:
            if whole is not None and first is not None and last is not None:
                rows.append(_row(by, whole, first, last, counts))
            whole, first, counts = span(d_), d_, [0] * len(topics)
        last = d_
        for j, (_, per_day) in enumerate(stats.daily_volume):
            counts[j] += per_day[i]
    if whole is not None and first is not None and last is not None:
        rows.append(_row(by, whole, first, last, counts))
    return topics, rows


def _row(
    by: str, whole: tuple[date, date], first: date, last: date, counts: list[int]
) -> VolumeRow:
    label = f"{first:%Y-%m}" if by == "month" else first.isoformat()
    return VolumeRow(label, tuple(counts), first, last, (first, last) != whole)
