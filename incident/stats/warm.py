"""Warming the statistics cache: the months a supervisor looks at, read before anyone asks.

A web process starts with an empty ``StatsCache``, so its first view of a year would read a
million rows (seconds on PostgreSQL). ``warm_year`` computes the current local month and the
twelve before it, whole and with the per-person table, into the cache: any period made of
whole months in that span (a year, a quarter, the current month) is then taken from the cache,
and only the months that change afterwards are read again.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Connection

from incident.stats.cache import StatsCache
from incident.stats.compute import compute
from incident.stats.filters import FIRST_DAY, LAST_DAY, Filters

WARM_MONTHS = 13  # the current month and the twelve before it


def warm_span(now: datetime, timezone: str) -> tuple[date, date]:
    """The first and last local day ``warm_year`` computes: the first day of the month twelve
    months before ``now``'s and the last day of ``now``'s month, in ``timezone``."""
    probe = Filters.for_days(date(2000, 1, 1), date(2000, 1, 1), timezone)
    today = now.astimezone(probe.tz).date()
    index = today.year * 12 + today.month - 1 - (WARM_MONTHS - 1)
    first = date(index // 12, index % 12 + 1, 1)
    following = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    return max(first, FIRST_DAY), min(following - timedelta(days=1), LAST_DAY)


def warm_year(conn: Connection, cache: StatsCache, now: datetime, timezone: str) -> int:
    """Compute the months of ``warm_span`` into ``cache``, with the per-person table, as the
    statistics page would; returns how many months it holds afterwards."""
    first, last = warm_span(now, timezone)
    compute(conn, Filters.for_days(first, last, timezone), now, cache, people=True)
    return len(cache)
