"""PostgreSQL's ``percentile_cont`` over the union of sorted runs, without merging them.

Each month's answer times come sorted (from the database or the cache); a period's median and
p90 are the percentile of all of them together. ``kth_smallest`` finds a rank across the runs
by bisecting the value range, so a year of months is never merged into one list.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence


def kth_smallest(runs: Sequence[Sequence[int]], k: int) -> int:
    """The ``k``-th smallest (0-based) of the values of several sorted runs, by bisecting the
    value range: no merge, ~30 steps of one ``bisect`` per run."""
    live = [r for r in runs if r]
    if len(live) == 1:
        return live[0][k]
    lo, hi = min(r[0] for r in live), max(r[-1] for r in live)
    while lo < hi:
        mid = (lo + hi) // 2
        if sum(bisect_right(r, mid) for r in live) > k:
            hi = mid
        else:
            lo = mid + 1
    return lo


def percentile_cont(runs: Sequence[Sequence[int]], p: float) -> float | None:
    """PostgreSQL's ``percentile_cont(p)`` (linear interpolation between the two closest
    ranks) over the union of sorted runs; None when they are all empty."""
    n = sum(len(r) for r in runs)
    if not n:
        return None
    position = p * (n - 1)
    low = math.floor(position)
    v_low = kth_smallest(runs, low)
    if low + 1 >= n or position == low:
        return float(v_low)
    # The next rank: v_low again if it occurs past ``low``, else the smallest value above it
    # (one bisect per run instead of a second search of the value range).
    ends = [(r, bisect_right(r, v_low)) for r in runs if r]
    if sum(end for _, end in ends) > low + 1:
        v_high = v_low
    else:
        v_high = min(r[end] for r, end in ends if end < len(r))
    return v_low + (position - low) * (v_high - v_low)
