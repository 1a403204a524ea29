"""Logging never shows a secret: known tokens, token-shaped strings and secret-named fields."""

from __future__ import annotations

import io
import json
import logging

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
