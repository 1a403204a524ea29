"""Logging never shows a secret: known tokens, token-shaped strings and secret-named fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from incident.logs import configure_logging, get_logger

VK_TOKEN = "vk1.a.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbCdEfGhIjKlMnOp"


def capture(known: list[str]) -> io.StringIO:
    out = io.StringIO()
    configure_logging("info", "json", known_secrets=known, stream=out)
    return out


def test_known_secrets_and_token_shaped_text_are_redacted_in_json_lines() -> None:
    out = capture(["my-configured-secret"])
    get_logger(source="vk-main").warning(
        "call_failed",
        url=f"https://api.vk.ru/method/wall.get?access_token={VK_TOKEN}&v=5.199",
        note="used my-configured-secret here",
        access_token="plain",
        problem=f"raw {VK_TOKEN} in text",
    )
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert line["event"] == "call_failed"
    assert line["source"] == "vk-main"
    assert VK_TOKEN not in out.getvalue()
    assert "my-configured-secret" not in out.getvalue()
    assert line["access_token"] == "[redacted]"
    assert "v=5.199" in line["url"]
    structlog.reset_defaults()


def test_library_log_records_are_redacted_too() -> None:
    out = capture([])
    logging.getLogger("urllib3.connectionpool").warning("GET /method?access_token=%s", VK_TOKEN)
    assert "access_token=[redacted]" in out.getvalue()
    assert VK_TOKEN not in out.getvalue()
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Each test configures logging its way; the next one starts from Python's defaults."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def lines_of(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def json_lines(out: io.StringIO) -> list[dict[str, Any]]:
    """Every line written, each of which must be one JSON object."""
    parsed = []
    for line in lines_of(out):
        try:
            item = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
        assert isinstance(item, dict), line
        parsed.append(item)
    return parsed


def test_at_debug_level_every_stdlib_line_is_json_and_keeps_its_extra_fields() -> None:
    out = io.StringIO()
    configure_logging("debug", "json", stream=out)
    logging.getLogger("incident.sources.vk.calls").warning(
        "vk call failed, retrying",
        extra={"method": "wall.get", "problem": "VK error 6", "attempt": 2, "pause": 0.5},
    )
    logging.getLogger("apscheduler.scheduler").debug("Looking for jobs to run")
    logging.getLogger("apscheduler.executors.default").info(
        'Running job "%s" (scheduled at %s)', "sweep", "2026-10-01 10:00:00+03:00"
    )
    logging.getLogger("urllib3.connectionpool").debug(
        '%s://%s:%s "%s %s %s" %s %s', "https", "api.vk.ru", 443, "POST", "/x", "HTTP/1.1", 200, 5
    )
    get_logger(source="vk-main").info("sweep_done", stored=3)

    retry, scheduler, job, http, native = json_lines(out)
    assert retry["event"] == "vk call failed, retrying"
    assert (retry["method"], retry["problem"], retry["attempt"], retry["pause"]) == (
        "wall.get",
        "VK error 6",
        2,
        0.5,
    )
    assert (retry["level"], retry["logger"]) == ("warning", "incident.sources.vk.calls")
    assert (scheduler["level"], scheduler["logger"]) == ("debug", "apscheduler.scheduler")
    assert scheduler["event"] == "Looking for jobs to run"
    assert job["event"] == 'Running job "sweep" (scheduled at 2026-10-01 10:00:00+03:00)'
    assert http["event"] == 'https://api.vk.ru:443 "POST /x HTTP/1.1" 200 5'
    assert (native["event"], native["source"], native["stored"]) == ("sweep_done", "vk-main", 3)
    for line in (retry, scheduler, job, http, native):
        assert line["timestamp"].endswith("Z")
        assert not [key for key in line if key.startswith("_")]


def test_context_bound_for_a_job_reaches_library_lines_too() -> None:
    out = io.StringIO()
    configure_logging("debug", "json", stream=out)
    with structlog.contextvars.bound_contextvars(source="ok-main"):
        logging.getLogger("httpx").debug("HTTP Request: POST https://api.ok.ru/fb.do")
    (line,) = json_lines(out)
    assert (line["source"], line["logger"]) == ("ok-main", "httpx")


def test_secrets_in_stdlib_messages_extra_fields_and_tracebacks_are_redacted() -> None:
    out = io.StringIO()
    configure_logging("debug", "json", known_secrets=["my-configured-secret"], stream=out)
    log = logging.getLogger("incident.sources.ok.client")
    log.warning(
        "ok call failed",
        extra={"url": f"https://api.ok.ru/fb.do?access_token={VK_TOKEN}", "token": "t0ken"},
    )
    try:
        raise RuntimeError("refused my-configured-secret")
    except RuntimeError:
        logging.getLogger("apscheduler.executors.default").exception("Job raised")
    failed, crashed = json_lines(out)
    assert failed["url"] == "https://api.ok.ru/fb.do?access_token=[redacted]"
    assert failed["token"] == "[redacted]"
    assert "RuntimeError: refused [redacted]" in crashed["exception"]
    assert VK_TOKEN not in out.getvalue()
    assert "my-configured-secret" not in out.getvalue()
    assert "t0ken" not in out.getvalue()


def test_console_lines_show_the_extra_fields_of_stdlib_records_as_keys() -> None:
    out = io.StringIO()
    configure_logging("info", "console", stream=out)
    logging.getLogger("incident.sources.vk.calls").warning(
        "vk call failed, retrying", extra={"method": "wall.get", "attempt": 2}
    )
    get_logger().warning("source_degraded", source="vk-main")
    retry, native = lines_of(out)
    assert "vk call failed, retrying" in retry
    assert "method=wall.get" in retry
    assert "attempt=2" in retry
    assert "incident.sources.vk.calls" in retry
    assert "source_degraded" in native
    assert "source=vk-main" in native


def test_the_level_applies_to_our_lines_and_libraries_speak_at_warning_unless_debugging() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    logging.getLogger("incident.sources.vk.source").info("vk long poll failed", extra={"failed": 2})
    logging.getLogger("incident.sources.vk.source").debug("not at info level")
    logging.getLogger("apscheduler.scheduler").info("Scheduler started")
    logging.getLogger("urllib3.connectionpool").warning("Retrying after connection broken")
    get_logger().debug("not at info level either")
    get_logger().info("worker_started")
    events = [line["event"] for line in json_lines(out)]
    assert events == ["vk long poll failed", "Retrying after connection broken", "worker_started"]


def test_a_console_traceback_is_plain_text_with_secrets_redacted() -> None:
    out = io.StringIO()
    configure_logging("info", "console", known_secrets=["my-configured-secret"], stream=out)
    token = VK_TOKEN  # a local variable a pretty traceback would print
    try:
        raise RuntimeError(f"refused {token} and my-configured-secret")
    except RuntimeError:
        get_logger().exception("send_failed")
        logging.getLogger("telethon.network").exception("Unhandled error")
    text = out.getvalue()
    assert text.count("RuntimeError: refused [redacted] and [redacted]") == 2
    assert VK_TOKEN not in text
    assert "my-configured-secret" not in text
