"""The OK world tests share: one application, one group, its administrator, three citizens.

``serve_fake_ok`` runs the fake OK server with that world; ``ok_source`` builds an ``OkSource``
pointed at it with fast, recorded retries and no throttling.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from incident.sources.fakes.ok_server import FakeOk
from incident.sources.ok import OkSource, RetryPolicy
from incident.sources.ok.wire import DATE_FORMAT, MOSCOW

APP_KEY = "CBAJKLMNEBABABABA"
APP_SECRET = "0F1E2D3C4B5A69788796A5B4"
TOKEN = "tkn1ABCdef-administrator-permanent-token"
GID = "53038939046008"
GROUP_NAME = "Комитет по защите прав потребителей"
ADMIN = "571000000001"
CITIZENS = {1: "910000000001", 2: "910000000002", 3: "910000000003"}
NAMES = {
    CITIZENS[1]: "Анна Петрова",
    CITIZENS[2]: "Борис Смирнов",
    CITIZENS[3]: "Вера Иванова",
    ADMIN: "Ольга Админова",
}
FAST_RETRY = RetryPolicy(attempts=4, initial=0.001, maximum=0.004)


class RecordingSleep:
    """A sleep that only remembers how long it was asked to wait."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


class TopOfRange(random.Random):
    """Full jitter that always picks the largest pause, so a test can see the caps grow."""

    def uniform(self, a: float, b: float) -> float:
        return b


@contextmanager
def serve_fake_ok(clock: Any = None, group_id: str = GID) -> Iterator[FakeOk]:
    """A running fake OK with the shared world; fails the test if a client broke OK's rules."""
    options: dict[str, Any] = {} if clock is None else {"clock": clock}
    fake = FakeOk(application_key=APP_KEY, application_secret_key=APP_SECRET, **options)
    fake.add_group(group_id, GROUP_NAME)
    fake.add_token(TOKEN, ADMIN)
    for user, name in NAMES.items():
        fake.add_user(user, name)
    with fake:
        yield fake
    assert fake.protocol_errors == []


def ok_source(fake: FakeOk, **overrides: Any) -> OkSource:
    """An ``OkSource`` on ``fake``: fast retries, no throttle, deterministic jitter."""
    options: dict[str, Any] = {
        "name": "ok-test",
        "group_id": int(GID),
        "application_key": APP_KEY,
        "application_secret_key": APP_SECRET,
        "access_token": TOKEN,
        "base_url": fake.url,
        "retry": FAST_RETRY,
        "sleep": RecordingSleep(),
        "rng": TopOfRange(),
        "http_timeout": 2.0,
    }
    options.update(overrides)
    return OkSource(**options)


def at(text: str) -> datetime:
    """A Moscow wall-clock time "yyyy-mm-dd hh:mm:ss" as an aware datetime."""
    return datetime.strptime(text, DATE_FORMAT).replace(tzinfo=MOSCOW)
