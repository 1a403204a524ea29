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
OUR_LOGGER = "incident"  # the stdlib logger structlog's lines go through
# Loggers whose lines follow the configured level: ours, and uvicorn's serving our web app
# (it says where it listens at info level). Every other library speaks at warning.
OWN_LOGGERS = (OUR_LOGGER, "uvicorn")
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
    """Every log line, ours and the libraries', through one structlog formatter on the root
    handler: JSON lines or console lines, secrets redacted.

    structlog events and stdlib records (vk_api, APScheduler, urllib3, httpx, Telethon and our
    own ``logging.getLogger(__name__)`` callers with ``extra={...}``) get the same timestamp,
    level and bound context; a stdlib record also names its logger and keeps its ``extra``
    fields as keys. ``level`` applies to our own lines, whichever API writes them, and to
    uvicorn's; the other libraries speak at warning unless ``level`` is debug.
    """
    out = stream or sys.stderr
    json_output = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    ours = logging.getLevelNamesMapping()[level.upper()]
    libraries = logging.DEBUG if ours <= logging.DEBUG else logging.WARNING
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(ours),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            *shared,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            _drop_formatter_fields,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # tracebacks as text before the redactor, in both formats: a pretty console
            # traceback would show local variables (tokens among them) unredacted
            structlog.processors.format_exc_info,
            Redactor(known_secrets),
            renderer,
        ],
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(out)
    handler.addFilter(_LevelFilter(ours, libraries))
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(min(ours, libraries))


def _drop_formatter_fields(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """``message`` and ``asctime`` are set on a record by any stdlib formatter that saw it
    first (pytest's, say), and uvicorn adds ``color_message``, the event with terminal colours:
    none of them is an extra field."""
    for key in ("message", "asctime", "color_message"):
        event_dict.pop(key, None)
    return event_dict


class _LevelFilter(logging.Filter):
    """Lines of ``OWN_LOGGERS`` (and their children; structlog's lines included) at the
    configured level; the other libraries' at ``libraries``."""

    def __init__(self, ours: int, libraries: int) -> None:
        super().__init__()
        self.ours = ours
        self.libraries = libraries

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        mine = any(name == own or name.startswith(own + ".") for own in OWN_LOGGERS)
        return record.levelno >= (self.ours if mine else self.libraries)


def get_logger(**context: Any) -> Any:
    return structlog.get_logger(OUR_LOGGER).bind(**context)
