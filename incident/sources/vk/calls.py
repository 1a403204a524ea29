"""The one HTTP chokepoint of the VK source: every call goes through ``VkCaller.run``.

It classifies each fault where it arises (transient, permanent, a refusal of this one call),
retries transient faults with bounded exponential backoff and full jitter, counts HTTP calls
and never lets a token reach a log line or an exception message.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from vk_api.exceptions import ApiError, ApiHttpError, Captcha

from incident.sources.base import PermanentSourceError, TransientSourceError
from incident.sources.retry import RetryPolicy

__all__ = [
    "ApiRefusal",
    "HttpStatusError",
    "RetryPolicy",
    "TokenRole",
    "VkCaller",
    "apply_default_timeout",
]

log = logging.getLogger(__name__)

# VK error codes (official schema, errors.json).
RETRYABLE_API_CODES = frozenset(
    {
        1,  # unknown error occurred
        6,  # too many requests per second
        9,  # flood control
        10,  # internal server error
        29,  # rate limit reached
        223,  # too many replies (a flood limit on wall.createComment)
    }
)
BROKEN_TOKEN_CODES = frozenset({5, 27, 28})  # user / group / application authorization failed
NEEDS_HUMAN_CODES = frozenset({14, 17})  # captcha needed, validation required


class TokenRole(Enum):
    """Which of the two tokens a call used, for messages that tell a human what to fix."""

    SWEEP = "sweep"
    COMMUNITY = "community"

    @property
    def title(self) -> str:
        if self is TokenRole.SWEEP:
            return "сервисный (или пользовательский) ключ для чтения стены (sweep_token)"
        return "ключ доступа сообщества (community_token)"


class ApiRefusal(Exception):
    """VK refused this one call with an error code that retrying will not change.

    The caller decides what it means: a rejected reply, a post to skip, or a broken setup.
    """

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: VK error {code}: {message}")
        self.method = method
        self.code = code
        self.vk_message = message


class HttpStatusError(Exception):
    """A non-2xx HTTP answer to a call that does not go through ``vk_api`` (long poll)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class TimeoutAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that applies a default timeout: ``vk_api`` posts without one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().send(request, *args, **kwargs)


def apply_default_timeout(session: requests.Session, timeout: float) -> None:
    """Mount ``TimeoutAdapter`` for plain http(s) so every request without a timeout gets one."""
    for prefix in ("https://", "http://"):
        previous = session.adapters.get(prefix)
        session.mount(prefix, TimeoutAdapter(timeout))
        if previous is not None:
            previous.close()


def _permanent_message(role: TokenRole, method: str, code: int, vk_message: str) -> str:
    where = f"VK ответил ошибкой {code} («{vk_message}») на {method}"
    if code == 14:
        return (
            f"{where}: VK требует ввести капчу для запросов, подписанных ключом: {role.title}. "
            "Войдите в VK под владельцем ключа, пройдите проверку, при необходимости уменьшите "
            "частоту опроса и перезапустите источник."
        )
    if code == 17:
        return (
            f"{where}: VK требует подтвердить владельца ключа: {role.title}. "
            "Войдите в VK под этим аккаунтом, пройдите проверку и перезапустите источник."
        )
    if code == 27 and role is TokenRole.SWEEP:
        return (
            f"{where}: в sweep_token указан ключ сообщества, а для чтения стены нужен "
            "сервисный ключ приложения или ключ пользователя. Укажите ключ нужного типа."
        )
    if code == 27:
        return (
            f"{where}: {role.title} не подходит: нужен ключ именно этого сообщества "
            "с правами на стену и Long Poll. Выпустите новый ключ в настройках сообщества."
        )
    return (
        f"{where}: {role.title} недействителен (отозван, истёк или введён с ошибкой). "
        "Выпустите новый ключ, замените его в настройках и перезапустите источник."
    )


class VkCaller:
    """Runs calls with bounded retry; ``calls`` counts the HTTP requests made by this thread.

    The count is per thread so that a sweep, a long poll and a reply running in different
    threads each report only their own calls in ``Batch.api_calls``.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy,
        sleep: Callable[[float], None],
        rng: random.Random,
    ) -> None:
        self._retry = retry
        self._sleep = sleep
        self._rng = rng
        self._local = threading.local()

    @property
    def calls(self) -> int:
        return int(getattr(self._local, "calls", 0))

    def method(
        self, client: Any, role: TokenRole, method: str, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Call a VK API method through a ``vk_api`` client; return its ``response`` object."""

        def attempt() -> dict[str, Any]:
            response = client.method(method, dict(values))
            if not isinstance(response, dict):
                raise ValueError(f"{method} returned {type(response).__name__}, not an object")
            return response

        return self.run(role, method, attempt)

    def run(
        self, role: TokenRole, what: str, attempt: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Run ``attempt`` (one HTTP request) until it succeeds or a fault is final."""
        policy = self._retry
        for number in range(1, policy.attempts + 1):
            self._local.calls = self.calls + 1
            try:
                return attempt()
            except Captcha as exc:
                raise PermanentSourceError(
                    _permanent_message(role, what, 14, "Captcha needed")
                ) from exc
            except ApiError as exc:
                code = int(exc.code)
                message = str(exc.error.get("error_msg", ""))
                if code in BROKEN_TOKEN_CODES or code in NEEDS_HUMAN_CODES:
                    raise PermanentSourceError(
                        _permanent_message(role, what, code, message)
                    ) from exc
                if code not in RETRYABLE_API_CODES:
                    raise ApiRefusal(what, code, message) from exc
                problem = f"VK error {code}: {message}"
            except ApiHttpError as exc:
                problem = self._http_problem(what, int(exc.response.status_code), exc)
            except HttpStatusError as exc:
                problem = self._http_problem(what, exc.status, exc)
            except requests.Timeout:
                problem = "timed out"
            except requests.ConnectionError:
                problem = "connection failed"
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ):
                problem = "reply cut short"
            except ValueError as exc:  # requests' JSONDecodeError and our shape checks
                problem = f"malformed reply ({type(exc).__name__})"
            if number == policy.attempts:
                raise TransientSourceError(
                    f"{what}: {problem}; gave up after {policy.attempts} attempts",
                    retry_after=policy.cap(number),
                )
            pause = self._rng.uniform(0.0, policy.cap(number))
            log.warning(
                "vk call failed, retrying",
                extra={"method": what, "problem": problem, "attempt": number, "pause": pause},
            )
            self._sleep(pause)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    @staticmethod
    def _http_problem(what: str, status: int, exc: Exception) -> str:
        if status >= 500 or status == 429:
            return f"HTTP {status}"
        raise TransientSourceError(f"{what}: unexpected HTTP {status}") from exc
