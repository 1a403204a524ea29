"""The one HTTP chokepoint of the OK source: a small signed ``fb.do`` client on httpx.

OK has no usable Python SDK (docs/platforms.md), so this is ours. Every call is signed, errors are
read from HTTP-200 bodies by their ``error_code`` key and classified where they arise:

- 2, 8, 11 (service unavailable, flood, call limit), HTTP 5xx/429, timeouts, broken connections
  and malformed JSON are retried with bounded exponential backoff and full jitter, then raise
  ``TransientSourceError``;
- 102, 103, 104, 10, 200, 50, 453, 511, 514 raise ``PermanentSourceError`` with a plain reason
  (unless the caller takes them as a refusal of this one call: ``refusals=``);
- any other code raises ``OkRefusal``: the caller decides (a reply refused, a post gone).

A write is never retried after a fault that may have happened after OK acted on it (a timeout,
a 5xx, a cut reply): ``OkAmbiguous`` is raised at once so the caller can look before resending.
No token or secret reaches a log line or an exception message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import httpx

from incident.sources.base import PermanentSourceError, TransientSourceError
from incident.sources.retry import RetryPolicy

__all__ = [
    "OK_API_URL",
    "OkAmbiguous",
    "OkClient",
    "OkRefusal",
    "RetryPolicy",
    "sign",
]

log = logging.getLogger(__name__)

OK_API_URL = "https://api.ok.ru/"
RETRYABLE_CODES = frozenset({2, 8, 11})  # service unavailable, flood blocked, call limit reached

_RENEW_ACCESS = (
    "Выпустите новый вечный access_token администратора группы в настройках приложения OK, "
    "замените его и перезапустите источник."
)
_FIX_KEYS = (
    "Проверьте application_key и application_secret_key (они из настроек приложения OK) и что "
    "access_token выпущен этим же приложением."
)
_FIX_RIGHTS = (
    "Запросите у OK для приложения права GROUP_CONTENT и VALUABLE_ACCESS (и LONG_ACCESS_TOKEN "
    "для вечного ключа), затем выпустите access_token заново."
)
_FIX_ADMIN = (
    "Ключ выпущен пользователем, который не администратор группы: выпустите access_token "
    "от имени администратора."
)
_FIX_SPAM = (
    "OK заблокировал действия аккаунта как подозрительные: войдите в OK под владельцем "
    "ключа, пройдите проверку и уменьшите частоту запросов."
)
STOP_CODES: Mapping[int, str] = {
    102: "сессия истекла. " + _RENEW_ACCESS,
    103: "сессия недействительна. " + _RENEW_ACCESS,
    104: "неверная подпись запроса. " + _FIX_KEYS,
    453: "метод требует сессии пользователя. " + _RENEW_ACCESS,
    10: "нет прав на метод. " + _FIX_RIGHTS,
    200: "нет разрешения на действие. " + _FIX_RIGHTS,
    50: "нет прав администратора группы. " + _FIX_ADMIN,
    511: "аккаунт заблокирован антиспамом. " + _FIX_SPAM,
    514: "действие заблокировано антиспамом. " + _FIX_SPAM,
}


def sign(params: Mapping[str, str], access_token: str, secret_key: str) -> str:
    """OK's request signature (docs/platforms.md): ``md5(sorted k=v ... + md5(token + secret))``.

    ``access_token``, ``session_key`` and ``sig`` are not signed; bytes are UTF-8.
    """
    session_secret = hashlib.md5(
        (access_token + secret_key).encode(), usedforsecurity=False
    ).hexdigest()
    signed = "".join(
        f"{key}={params[key]}"
        for key in sorted(params)
        if key not in ("access_token", "session_key", "sig")
    )
    return hashlib.md5((signed + session_secret).encode("utf-8"), usedforsecurity=False).hexdigest()


class OkRefusal(Exception):
    """OK refused this one call with a code retrying will not change; the caller decides."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: OK error {code}: {message}")
        self.method = method
        self.code = code
        self.ok_message = message


class OkAmbiguous(Exception):
    """A write failed in a way that leaves open whether OK performed it."""


class _Retry(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class OkClient:
    """Signed calls to ``<base_url>fb.do`` with bounded retry; ``calls`` counts HTTP requests
    made by the current thread (a sweep and a reply in two threads count their own)."""

    def __init__(
        self,
        *,
        application_key: str,
        application_secret_key: str,
        access_token: str,
        base_url: str = OK_API_URL,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, shared safely
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        requests_per_second: float | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not base_url.endswith("/"):
            raise ValueError("base_url must end with '/'")
        self._key = application_key
        self._secret = application_secret_key
        self._token = access_token
        self._url = base_url + "fb.do"
        self._http = httpx.Client(transport=transport, timeout=timeout)
        self._retry = retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._clock = clock
        self._next_slot = 0.0
        self._lock = threading.Lock()
        self._local = threading.local()

    @property
    def calls(self) -> int:
        return int(getattr(self._local, "calls", 0))

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        params: Mapping[str, object],
        *,
        write: bool = False,
        refusals: Collection[int] = (),
    ) -> Any:
        """Call ``method``; return its decoded JSON. ``write``: never repeat after an ambiguous
        fault (raise ``OkAmbiguous``). ``refusals``: stop codes this caller takes as a refusal."""
        values = {key: _text(value) for key, value in params.items()}
        values.update({"method": method, "application_key": self._key, "format": "json"})
        values["sig"] = sign(values, self._token, self._secret)
        values["access_token"] = self._token
        policy = self._retry
        for number in range(1, policy.attempts + 1):
            try:
                return self._once(method, values, write, frozenset(refusals))
            except _Retry as fault:
                problem = fault.problem
            if number == policy.attempts:
                raise TransientSourceError(
                    f"{method}: {problem}; gave up after {policy.attempts} attempts",
                    retry_after=policy.cap(number),
                )
            pause = self._rng.uniform(0.0, policy.cap(number))
            log.warning(
                "ok call failed, retrying",
                extra={"method": method, "problem": problem, "attempt": number, "pause": pause},
            )
            self._sleep(pause)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _once(
        self, method: str, values: dict[str, str], write: bool, refusals: frozenset[int]
    ) -> Any:
        self._throttle()
        self._local.calls = self.calls + 1
        try:
            response = self._http.post(self._url, data=values)
        except httpx.TimeoutException as exc:
            self._ambiguous(write, method, "timed out", exc)
            raise _Retry("timed out") from exc
        except httpx.TransportError as exc:
            problem = f"connection failed ({type(exc).__name__})"
            if not isinstance(exc, httpx.ConnectError):
                self._ambiguous(write, method, problem, exc)
            raise _Retry(problem) from exc
        if response.status_code >= 500 or response.status_code == 429:
            self._ambiguous(write, method, f"HTTP {response.status_code}", None)
            raise _Retry(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise TransientSourceError(f"{method}: unexpected HTTP {response.status_code}")
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            self._ambiguous(write, method, "malformed reply", exc)
            raise _Retry("malformed reply (not JSON)") from exc
        if isinstance(body, dict) and "error_code" in body:
            code = _code(body.get("error_code"))
            message = str(body.get("error_msg") or "")
            if code in RETRYABLE_CODES:  # OK did not run the method: safe even for a write
                raise _Retry(f"OK error {code}: {message}")
            if code in STOP_CODES and code not in refusals:
                raise PermanentSourceError(
                    f"OK ответил ошибкой {code} («{message}») на {method}: {STOP_CODES[code]}"
                )
            raise OkRefusal(method, code, message)
        return body

    @staticmethod
    def _ambiguous(write: bool, method: str, problem: str, exc: Exception | None) -> None:
        if write:
            raise OkAmbiguous(f"{method}: {problem}") from exc

    def _throttle(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = self._clock()
            wait = self._next_slot - now
            self._next_slot = max(now, self._next_slot) + self._interval
        if wait > 0:
            self._sleep(wait)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _code(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
