"""Notifications and the SLA warning step.

The Bot API is played by a fake behind httpx's MockTransport (the notifier's one HTTP
chokepoint); e-mail goes to a small SMTP server on a local port. The warning step runs on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, select, update

from incident import db, sla
from incident.alerts import MAX_LISTED, warn_breaches_once
from incident.config.notify import EmailSettings, TelegramSettings, notify_settings_from_mapping
from incident.notify import EmailNotifier, NotifyError, TelegramNotifier, build_notifiers
from tests.world import World

MSK = ZoneInfo("Europe/Moscow")
TOKEN = "123456:SECRET-bot-token"
# Thursday 1 October 2026, 10:00 Moscow time: due at 18:00 (8 working hours), warned at 16:00
T0 = datetime(2026, 10, 1, 10, 0, tzinfo=MSK)
SETTINGS = sla.SlaSettings()


# ----- fakes ------------------------------------------------------------------------------


@dataclass
class FakeBotApi:
    """Plays Telegram's sendMessage; ``failures`` are (status, body) replies served first."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.failures:
            status, body = self.failures.pop(0)
            return httpx.Response(status, json=body)
        if request.url.path != f"/bot{TOKEN}/sendMessage":
            return httpx.Response(404, json={"ok": False, "description": "Not Found"})
        self.messages.append(json.loads(request.content))
        return httpx.Response(200, json={"ok": True, "result": {"message_id": len(self.messages)}})


@pytest.fixture
def bot() -> Iterator[tuple[FakeBotApi, httpx.Client]]:
    api = FakeBotApi()
    with httpx.Client(transport=httpx.MockTransport(api)) as client:
        yield api, client


def telegram(client: httpx.Client) -> TelegramNotifier:
    return TelegramNotifier(TelegramSettings(chat_id="-100777", bot_token=TOKEN), client)


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: _SmtpServer

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 localhost test SMTP")
        mail: dict[str, Any] = {"rcpt": [], "auth": None}
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-localhost\r\n250-AUTH PLAIN\r\n250 OK\r\n")
            elif verb == "AUTH":
                mail["auth"] = command.split(" ", 2)[2] if command.count(" ") >= 2 else None
                self.reply("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                mail["from"] = command
                self.reply("250 OK")
            elif verb == "RCPT":
                if self.server.refuse_recipients:
                    self.reply("550 5.1.1 No such user")
                else:
                    mail["rcpt"].append(command)
                    self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                mail["data"] = data
                self.server.received.append(dict(mail))
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("250 OK")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    received: list[dict[str, Any]]
    refuse_recipients = False


@pytest.fixture
def smtp_server() -> Iterator[_SmtpServer]:
    server = _SmtpServer(("127.0.0.1", 0), _SmtpHandler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def email_to(server: _SmtpServer, **kw: Any) -> EmailNotifier:
    settings = EmailSettings(
        host="127.0.0.1",
        port=server.server_address[1],
        security="none",
        sender="incident@example.ru",
        recipients=("duty@example.ru", "chief@example.ru"),
        **kw,
    )
    return EmailNotifier(settings, timeout=5)


def subject_of(mail: dict[str, Any]) -> str:
    return str(make_header(decode_header(message_from_bytes(mail["data"])["Subject"])))


class BrokenNotifier:
    name = "broken"

    def __init__(self) -> None:
        self.calls = 0

    def send(self, subject: str, text: str) -> None:
        self.calls += 1
        raise NotifyError("broken: down", transient=True)


# ----- settings ---------------------------------------------------------------------------

FULL = {
    "base_url": "https://incident.example.ru/",
    "telegram_chat_id": "-1001234567890",
    "smtp_host": "smtp.example.ru",
    "smtp_port": 465,
    "smtp_security": "ssl",
    "smtp_from": "incident@example.ru",
    "smtp_to": ["duty@example.ru", "chief@example.ru"],
    "smtp_username": "incident@example.ru",
}
ENV = {"INCIDENT_TELEGRAM_BOT_TOKEN": TOKEN, "INCIDENT_SMTP_PASSWORD": "pw"}


def test_settings_read_both_channels_with_secrets_from_the_environment() -> None:
    s = notify_settings_from_mapping(FULL, "config.toml [notify]", ENV)
    assert s.telegram is not None
    assert (s.telegram.chat_id, s.telegram.bot_token) == ("-1001234567890", TOKEN)
    assert s.email is not None
    assert (s.email.port, s.email.security, s.email.password) == (465, "ssl", "pw")
    assert s.email.recipients == ("duty@example.ru", "chief@example.ru")
    assert s.incident_url(7) == "https://incident.example.ru/incidents/7"
    assert (s.warn, s.breach) == (True, True)
    assert TOKEN not in repr(s)
    assert "'pw'" not in repr(s)


def test_settings_read_a_secret_from_the_file_named_by_var_file(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    s = notify_settings_from_mapping(
        {"telegram_chat_id": "@duty_chat", "telegram_bot_token_env": "BOT"},
        "[notify]",
        {"BOT_FILE": str(secret)},
    )
    assert s.telegram is not None
    assert s.telegram.bot_token == TOKEN
    assert s.email is None


@pytest.mark.parametrize(
    ("data", "env", "message"),
    [
        ({"telegram_chat_id": "-100"}, {}, r"\[notify\]\.telegram_bot_token_env: no bot token"),
        ({"telegram_chat_id": "chat"}, ENV, r"\[notify\]\.telegram_chat_id: expected a chat id"),
        ({"colour": "red"}, {}, r"unknown key 'colour' in \[notify\]"),
        ({"smtp_from": "a@b.ru"}, {}, r"\[notify\]\.smtp_from: set smtp_host too"),
        ({"smtp_host": "h", "smtp_from": "a@b.ru"}, {}, r"\[notify\]\.smtp_to: expected"),
        (
            {"smtp_host": "h", "smtp_from": "a@b.ru", "smtp_to": "c@d.ru", "smtp_security": "tls"},
            {},
            r"\[notify\]\.smtp_security: 'tls' is not one of",
        ),
        (
            {"smtp_host": "h", "smtp_from": "a@b.ru", "smtp_to": "c@d.ru", "smtp_username": "u"},
            {},
            r"\[notify\]\.smtp_password_env: no SMTP password",
        ),
        ({"warn": "yes"}, {}, r"\[notify\]\.warn: expected true or false"),
        ({"base_url": "incident.local"}, {}, r"\[notify\]\.base_url: expected an http"),
    ],
)
def test_settings_errors_name_the_key(
    data: dict[str, Any], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        notify_settings_from_mapping(data, "[notify]", env)


def test_settings_without_secrets_are_accepted_where_nothing_is_sent() -> None:
    s = notify_settings_from_mapping(FULL, "[notify]", {}, require_secrets=False)
    assert s.telegram is not None
    assert s.telegram.bot_token == ""
    assert notify_settings_from_mapping({}, "[notify]", {}).telegram is None


def test_build_notifiers_makes_one_per_configured_channel(
    bot: tuple[FakeBotApi, httpx.Client],
) -> None:
    s = notify_settings_from_mapping(FULL, "[notify]", ENV)
    notifiers = build_notifiers(s, http=bot[1])
    assert [n.name for n in notifiers] == ["telegram", "email"]
    assert build_notifiers(notify_settings_from_mapping({}, "[notify]", {})) == []


# ----- telegram ---------------------------------------------------------------------------


def test_telegram_posts_the_text_to_the_chat(bot: tuple[FakeBotApi, httpx.Client]) -> None:
    api, client = bot
    telegram(client).send("Просрочен ответ", "Просрочен ответ\n\n• №1")
    assert api.messages == [
        {"chat_id": "-100777", "text": "Просрочен ответ\n\n• №1", "disable_web_page_preview": True}
    ]


def test_telegram_cuts_a_message_to_the_platform_limit(
    bot: tuple[FakeBotApi, httpx.Client],
) -> None:
    api, client = bot
    telegram(client).send("Тема", "x" * 5000)
    assert len(api.messages[0]["text"]) == 4096
    assert api.messages[0]["text"].startswith("Тема\n\n")


def test_telegram_rate_limit_is_transient_with_the_wait(
    bot: tuple[FakeBotApi, httpx.Client],
) -> None:
    api, client = bot
    api.failures.append(
        (429, {"ok": False, "description": "Too Many Requests", "parameters": {"retry_after": 7}})
    )
    with pytest.raises(NotifyError) as caught:
        telegram(client).send("a", "b")
    assert (caught.value.transient, caught.value.retry_after) == (True, 7.0)


def test_telegram_refusal_is_permanent_and_never_shows_the_token(
    bot: tuple[FakeBotApi, httpx.Client],
) -> None:
    api, client = bot
    api.failures.append((403, {"ok": False, "description": f"Forbidden: bot {TOKEN} was kicked"}))
    with pytest.raises(NotifyError) as caught:
        telegram(client).send("a", "b")
    assert caught.value.transient is False
    assert "403" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_telegram_network_failure_is_transient_and_never_shows_the_token() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    with (
        httpx.Client(transport=httpx.MockTransport(refuse)) as client,
        pytest.raises(NotifyError) as caught,
    ):
        telegram(client).send("a", "b")
    assert caught.value.transient is True
    assert TOKEN not in str(caught.value)


# ----- e-mail -----------------------------------------------------------------------------


def test_email_reaches_every_recipient_with_a_russian_subject(smtp_server: _SmtpServer) -> None:
    email_to(smtp_server).send("Просрочен ответ: 1 обращение", "• №1 текст")
    [mail] = smtp_server.received
    assert len(mail["rcpt"]) == 2
    assert subject_of(mail) == "Просрочен ответ: 1 обращение"
    body = message_from_bytes(mail["data"]).get_payload(decode=True)
    assert "• №1 текст" in body.decode("utf-8")
    assert mail["auth"] is None


def test_email_logs_in_when_a_user_is_configured(smtp_server: _SmtpServer) -> None:
    email_to(smtp_server, username="incident", password="pw").send("a", "b")
    assert smtp_server.received[0]["auth"] is not None


def test_email_refused_recipients_are_a_permanent_failure(smtp_server: _SmtpServer) -> None:
    smtp_server.refuse_recipients = True
    with pytest.raises(NotifyError) as caught:
        email_to(smtp_server).send("a", "b")
    assert caught.value.transient is False
    assert smtp_server.received == []


def test_email_to_a_closed_port_is_transient(tmp_path: Path) -> None:
    server = _SmtpServer(("127.0.0.1", 0), _SmtpHandler)
    port = server.server_address[1]
    server.server_close()  # nothing listens there any more
    notifier = EmailNotifier(
        EmailSettings(
            host="127.0.0.1", port=port, security="none", sender="a@b.ru", recipients=("c@d.ru",)
        ),
        timeout=2,
    )
    with pytest.raises(NotifyError) as caught:
        notifier.send("a", "b")
    assert caught.value.transient is True


# ----- the warning step -------------------------------------------------------------------


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine, SETTINGS)


def marks(engine: Engine, incident_id: int) -> tuple[Any, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            select(db.incidents.c.warned_at, db.incidents.c.breach_notified_at).where(
                db.incidents.c.id == incident_id
            )
        ).one()
    return row.warned_at, row.breach_notified_at


def test_warning_at_three_quarters_and_breach_after_due_are_each_sent_once(
    world: World, bot: tuple[FakeBotApi, httpx.Client]
) -> None:
    api, client = bot
    notifiers = [telegram(client)]
    incident = world.incident(T0)
    before_warn = T0 + timedelta(hours=5, minutes=59)
    assert warn_breaches_once(world.engine, SETTINGS, notifiers, before_warn) == 0
    at_warn = T0 + timedelta(hours=6)  # 16:00: 6 of 8 working hours
    assert warn_breaches_once(world.engine, SETTINGS, notifiers, at_warn) == 1
    assert warn_breaches_once(world.engine, SETTINGS, notifiers, at_warn + timedelta(hours=1)) == 0
    assert [m["text"].splitlines()[0] for m in api.messages] == ["Скоро срок ответа: 1 обращение"]
    assert "осталось 2 ч 00 мин" in api.messages[0]["text"]
    at_due = T0 + timedelta(hours=8)  # exactly due: still on time
    assert warn_breaches_once(world.engine, SETTINGS, notifiers, at_due) == 0
    late = at_due + timedelta(minutes=1)
    assert warn_breaches_once(world.engine, SETTINGS, notifiers, late) == 1
    assert warn_breaches_once(world.engine, SETTINGS, notifiers, late + timedelta(days=1)) == 0
    assert len(api.messages) == 2
    assert api.messages[1]["text"].startswith("Просрочен ответ: 1 обращение")
    assert "просрочено на 1 мин" in api.messages[1]["text"]
    warned, breached = marks(world.engine, incident)
    assert (warned, breached) == (at_warn, late)


def test_an_incident_found_already_overdue_gets_only_the_breach_message(
    world: World, bot: tuple[FakeBotApi, httpx.Client]
) -> None:
    api, client = bot
    incident = world.incident(T0)
    later = T0 + timedelta(days=2)
    assert warn_breaches_once(world.engine, SETTINGS, [telegram(client)], later) == 1
    assert len(api.messages) == 1
    assert api.messages[0]["text"].startswith("Просрочен ответ")
    assert marks(world.engine, incident) == (later, later)


def test_answered_and_closed_incidents_are_never_announced(
    world: World, bot: tuple[FakeBotApi, httpx.Client]
) -> None:
    api, client = bot
    world.incident(T0, answered_after=timedelta(hours=1))
    world.incident(T0, closed=True)
    assert (
        warn_breaches_once(world.engine, SETTINGS, [telegram(client)], T0 + timedelta(days=3)) == 0
    )
    assert api.messages == []


def test_a_burst_of_breaches_is_one_message_per_channel_with_links(
    world: World, bot: tuple[FakeBotApi, httpx.Client], smtp_server: _SmtpServer
) -> None:
    api, client = bot
    ids = [world.incident(T0 + timedelta(minutes=k)) for k in range(MAX_LISTED + 3)]
    count = warn_breaches_once(
        world.engine,
        SETTINGS,
        [telegram(client), email_to(smtp_server)],
        T0 + timedelta(days=1),
        base_url="https://incident.example.ru",
    )
    assert count == len(ids)
    [message] = api.messages
    text = message["text"]
    assert text.startswith(f"Просрочен ответ: {len(ids)} обращения")
    assert f"https://incident.example.ru/incidents/{ids[0]}" in text
    assert "…и ещё 3" in text
    [mail] = smtp_server.received
    assert subject_of(mail) == f"Просрочен ответ: {len(ids)} обращения"


def test_when_every_channel_fails_the_marks_are_released_and_retried(
    world: World, bot: tuple[FakeBotApi, httpx.Client]
) -> None:
    api, client = bot
    incident = world.incident(T0)
    api.failures.append((502, {"ok": False, "description": "Bad Gateway"}))
    first = T0 + timedelta(days=1)
    assert warn_breaches_once(world.engine, SETTINGS, [telegram(client)], first) == 0
    assert marks(world.engine, incident) == (None, None)
    retry = first + timedelta(minutes=1)
    assert warn_breaches_once(world.engine, SETTINGS, [telegram(client)], retry) == 1
    assert len(api.messages) == 1
    assert marks(world.engine, incident) == (retry, retry)


def test_when_one_channel_of_two_delivers_the_warning_is_not_repeated(
    world: World, bot: tuple[FakeBotApi, httpx.Client]
) -> None:
    api, client = bot
    broken = BrokenNotifier()
    world.incident(T0)
    notifiers = [broken, telegram(client)]
    now = T0 + timedelta(days=1)
    assert warn_breaches_once(world.engine, SETTINGS, notifiers, now) == 1
    assert warn_breaches_once(world.engine, SETTINGS, notifiers, now + timedelta(hours=1)) == 0
    assert (broken.calls, len(api.messages)) == (1, 1)


def test_without_notifiers_the_queue_marks_are_still_set(world: World) -> None:
    incident = world.incident(T0)
    now = T0 + timedelta(hours=7)
    assert warn_breaches_once(world.engine, SETTINGS, [], now) == 1
    assert marks(world.engine, incident) == (now, None)


def test_a_second_worker_finds_nothing_left_to_announce(
    world: World, bot: tuple[FakeBotApi, httpx.Client]
) -> None:
    api, client = bot
    incident = world.incident(T0)
    now = T0 + timedelta(days=1)
    # another worker claimed the breach a moment ago
    with world.engine.begin() as conn:
        conn.execute(
            update(db.incidents)
            .where(db.incidents.c.id == incident)
            .values(warned_at=now, breach_notified_at=now)
        )
    assert warn_breaches_once(world.engine, SETTINGS, [telegram(client)], now) == 0
    assert api.messages == []


def test_switched_off_stages_are_neither_marked_nor_sent(
    world: World, bot: tuple[FakeBotApi, httpx.Client]
) -> None:
    api, client = bot
    incident = world.incident(T0)
    n = warn_breaches_once(
        world.engine, SETTINGS, [telegram(client)], T0 + timedelta(hours=7), warn=False
    )
    assert n == 0
    assert marks(world.engine, incident) == (None, None)
    assert api.messages == []
