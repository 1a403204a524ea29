"""The daily volume of a ``Stats`` regrouped as a table by day, week or month."""

from __future__ import annotations

from datetime import date, timedelta

from incident.stats.model import Stats


def volume_table(
    stats: Stats, by: str = "month"
) -> tuple[tuple[str, ...], list[tuple[str, tuple[int, ...]]]]:
    """Volume by topic over time as a table: (topics, [(period label, counts per topic)]).

    ``by``: "day" (YYYY-MM-DD), "week" (the Monday, YYYY-MM-DD) or "month" (YYYY-MM).
    """
    if by not in ("day", "week", "month"):
        raise ValueError(f"by must be day, week or month, got {by!r}")

    def key(d_: date) -> str:
        if by == "month":
            return f"{d_:%Y-%m}"
        if by == "week":
            return (d_ - timedelta(days=d_.weekday())).isoformat()
        return d_.isoformat()

    topics = tuple(t for t, _ in stats.daily_volume)
    table: dict[str, list[int]] = {}
    for i, d_ in enumerate(stats.days):
        row = table.setdefault(key(d_), [0] * len(topics))
        for j, (_, counts) in enumerate(stats.daily_volume):
            row[j] += counts[i]
    return topics, [(k, tuple(v)) for k, v in table.items()]
