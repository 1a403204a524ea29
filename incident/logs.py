"""structlog set-up, called once by the entry point; redacts anything that looks like a secret."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

# VK tokens are long base64url-ish strings starting "vk1." or plain 85-char hex/alnum runs;
# OK tokens and Telegram bot tokens have their own shapes. Anything long and tokenish goes.
_TOKEN_PATTERNS = (
    re.compile(r"vk1\.[A-Za-z0-9._\-]{20,}"),
    re.compile(r"\b\d{6,12}:[A-Za-z0-9_\-]{30,}\b"),  # Telegram bot token
    re.compile(r"(access_token|token|secret|password|key)=([^&\s'\"]+)", re.IGNORECASE),
    re.compile(r"\b[A-Za-z0-9_\-]{60,}\b"),
)
_SECRET_KEYS = re.compile(r"token|secret|password|passwd|api_key|credential|cookie", re.I)
REDACTED = "[redacted]"


def redact_text(text: str, known: Iterable[str] = ()) -> str:
    for secret in known:
        if secret:
            text = text.replace(secret, REDACTED)
    for pattern in _TOKEN_PATTERNS:
        if pattern.groups == 2:
            text = pattern.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


class Redactor:
    """A structlog processor: masks values under secret-looking keys and token-looking text."""

    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        self.known = tuple(s for s in known_secrets if s)

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in list(event_dict.items()):
            if _SECRET_KEYS.search(key) and value is not None:
                event_dict[key] = REDACTED
            elif isinstance(value, str):
                event_dict[key] = redact_text(value, self.known)
            elif isinstance(value, BaseException):
                event_dict[key] = redact_text(repr(value), self.known)
        return event_dict


def configure_logging(
    level: str = "info",
    fmt: str = "auto",
    known_secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    out = stream or sys.stderr
    json_output = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    redactor = Redactor(known_secrets)
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info if json_output else _noop,
        redactor,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # Libraries (vk_api, apscheduler, urllib3) log through stdlib logging: route them through
    # a handler that redacts too, at warning level unless debugging.
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(out)
    handler.addFilter(_StdlibRedactFilter(redactor.known))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if level == "debug" else logging.WARNING)


def _noop(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
    return event_dict


class _StdlibRedactFilter(logging.Filter):
    def __init__(self, known: tuple[str, ...]) -> None:
        super().__init__()
        self.known = known

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage(), self.known)
        record.args = ()
        return True


def get_logger(**context: Any) -> Any:
    return structlog.get_logger().bind(**context)
