"""Response-time statistics for supervisors (the read model): import its public names from here.

Answer times are stored when an incident gets its first answer (``sla.response_figures``, called
by the inbox; ``inbox.backfill_response_figures`` for older rows), so no working-hours
arithmetic runs at query time. A period is cut at local month starts (``months``); each month's
figures (``compute_month``: counts by day and topic from the covering index, daily medians, and
the month's answer times sorted) merge exactly into the period's (``compute``): counts add up
and the median and p90 are ``percentile_cont``'s linear interpolation over the union of the
sorted months, found by bisection (``percentiles``). The web app keeps months in a
``StatsCache``; a month is read day by day and keeps each day's figures, so the cache reads
again only the days that changed and updates the month with them (``merge``): a year's page
reads the million rows once, not on every view (figures in the README, from
``bench/stats.py``).

Where things are: ``filters`` (what the supervisor chose, its months, the SQL each filter
means), ``model`` (the figures' shapes), ``compute`` (the SQL and the merge), ``merge`` (a
month from its days), ``percentiles``, ``cache``, ``tables`` (volume by day, week or month).
The charts are presentation: ``incident.web.charts``.
"""

from incident.models import AUTOMATIC_ACTORS
from incident.stats.cache import StatsCache
from incident.stats.compute import by_platform, compute, compute_month
from incident.stats.filters import (
    FIRST_DAY,
    LAST_DAY,
    OUT_OF_RANGE,
    Filters,
    human_answer,
    in_range,
    months,
    scope,
)
from incident.stats.model import (
    SLOWEST_LIMIT,
    DailyResponse,
    MonthFigures,
    PersonRow,
    PlatformRow,
    SlowIncident,
    Stats,
    TopicCheckRow,
    TopicRow,
)
from incident.stats.tables import VolumeRow, volume_table
from incident.stats.warm import WARM_MONTHS, warm_span, warm_year

__all__ = [
    "AUTOMATIC_ACTORS",
    "FIRST_DAY",
    "LAST_DAY",
    "OUT_OF_RANGE",
    "SLOWEST_LIMIT",
    "WARM_MONTHS",
    "DailyResponse",
    "Filters",
    "MonthFigures",
    "PersonRow",
    "PlatformRow",
    "SlowIncident",
    "Stats",
    "StatsCache",
    "TopicCheckRow",
    "TopicRow",
    "VolumeRow",
    "by_platform",
    "compute",
    "compute_month",
    "human_answer",
    "in_range",
    "months",
    "scope",
    "volume_table",
    "warm_span",
    "warm_year",
]
