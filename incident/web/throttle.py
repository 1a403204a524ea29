"""A per-address throttle for the public pages (the survey form and the rating link).

Addresses are never stored: each is counted under a keyed hash (HMAC-SHA256 with a key derived
from the session secret), in this process's memory, for ``window`` only. The table is bounded:
when it is full, the entries whose window has passed go first, then the oldest ones. Several
web processes each count their own share, which only makes the limit looser.
"""

from __future__ import annotations

import hmac
import threading
from collections import OrderedDict, deque
from datetime import datetime, timedelta


class Throttle:
    def __init__(
        self,
        key: bytes,
        limit: int = 10,
        window: timedelta = timedelta(minutes=10),
        max_addresses: int = 50_000,
    ) -> None:
        self._key = key
        self.limit = limit
        self.window = window
        self._max = max_addresses
        self._seen: OrderedDict[bytes, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def _hash(self, address: str) -> bytes:
        return hmac.new(self._key, address.encode("utf-8", "replace"), "sha256").digest()

    def allow(self, address: str | None, now: datetime) -> bool:
        """Count one attempt from ``address``; False when it is over the limit."""
        key = self._hash(address or "?")
        start = now - self.window
        with self._lock:
            times = self._seen.pop(key, None) or deque()
            while times and times[0] <= start:
                times.popleft()
            allowed = len(times) < self.limit
            if allowed:
                times.append(now)
            self._seen[key] = times  # the most recent last
            while len(self._seen) > self._max:
                self._seen.popitem(last=False)
            return allowed
