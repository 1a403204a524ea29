"""Staff notifications: a Telegram chat through a bot (Bot API ``sendMessage`` over httpx) and
e-mail (SMTP through smtplib), behind one small ``Notifier`` protocol.

Configuration (the ``[notify]`` table; every key is optional)::

    [notify]
    base_url = "https://incident.example.ru"   # links to incident cards in messages
    warn = true                                # "the deadline is near" (at [sla] warn_at)
    breach = true                              # "the deadline has passed"
    timeout_seconds = 10
    # Telegram: on when telegram_chat_id is set
    telegram_chat_id = "-1001234567890"
    telegram_bot_token_env = "INCIDENT_TELEGRAM_BOT_TOKEN"   # the default
    telegram_api_url = "https://api.telegram.org"           # the default
    # E-mail: on when smtp_host is set; smtp_from and smtp_to are then required
    smtp_host = "smtp.example.ru"
    smtp_port = 587
    smtp_security = "starttls"                 # starttls | ssl | none
    smtp_from = "incident@example.ru"
    smtp_to = ["duty@example.ru"]              # or one address as a string
    smtp_username = "incident@example.ru"      # log in only when set
    smtp_password_env = "INCIDENT_SMTP_PASSWORD"             # the default

Secrets are never written in the file: the bot token and the SMTP password come from the
environment variable named by ``*_env``, from the file named by ``<VAR>_FILE``, or from
``$CREDENTIALS_DIRECTORY/<VAR>`` (systemd's LoadCredential=), as for the platform tokens.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

import httpx

DEFAULT_TELEGRAM_API = "https://api.telegram.org"
DEFAULT_BOT_TOKEN_ENV = "INCIDENT_TELEGRAM_BOT_TOKEN"  # noqa: S105 -- a variable name
DEFAULT_SMTP_PASSWORD_ENV = "INCIDENT_SMTP_PASSWORD"  # noqa: S105 -- a variable name
TELEGRAM_LIMIT = 4096  # characters in one message
SECURITY_MODES = ("starttls", "ssl", "none")


class NotifyError(Exception):
    """A notification was not delivered. ``transient``: worth trying again later."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None):
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class Notifier(Protocol):
    """Delivers one message to the staff. Raises NotifyError when it could not."""

    @property
    def name(self) -> str: ...

    def send(self, subject: str, text: str) -> None: ...


# ----- settings ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    chat_id: str
    bot_token: str = field(repr=False)
    api_url: str = DEFAULT_TELEGRAM_API


@dataclass(frozen=True, slots=True)
class EmailSettings:
    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class NotifySettings:
    telegram: TelegramSettings | None = None
    email: EmailSettings | None = None
    base_url: str | None = None
    warn: bool = True
    breach: bool = True
    timeout: float = 10.0

    def incident_url(self, incident_id: int) -> str | None:
        if self.base_url is None:
            return None
        return f"{self.base_url.rstrip('/')}/incidents/{incident_id}"


_KEYS = frozenset(
    {
        "base_url",
        "warn",
        "breach",
        "timeout_seconds",
        "telegram_chat_id",
        "telegram_bot_token_env",
        "telegram_api_url",
        "smtp_host",
        "smtp_port",
        "smtp_security",
        "smtp_from",
        "smtp_to",
        "smtp_username",
        "smtp_password_env",
    }
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ADDRESS = re.compile(r"[^@\s<>,]+@[^@\s<>,]+")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def notify_settings_from_mapping(
    data: Mapping[str, Any],
    where: str,
    environ: Mapping[str, str] | None = None,
    *,
    require_secrets: bool = True,
) -> NotifySettings:
    """Parse the ``[notify]`` table. Raises ValueError naming ``where`` and the key.

    ``require_secrets=False`` is for processes that send nothing (the web app): a missing
    token or password is then left empty instead of being an error.
    """
    env = os.environ if environ is None else environ
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a table, got {_describe(data)}")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s): {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})"
        )

    def path(key: str) -> str:
        return f"{where}.{key}"

    def text(key: str, default: str | None = None) -> str | None:
        value = data.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{path(key)}: expected a non-empty string, got {_describe(value)}")
        return value.strip()

    def flag(key: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise ValueError(f"{path(key)}: expected true or false, got {_describe(value)}")
        return value

    def url(key: str, default: str | None) -> str | None:
        value = text(key, default)
        if value is not None and not re.fullmatch(r"https?://\S+", value):
            raise ValueError(f"{path(key)}: expected an http(s) URL, got {value!r}")
        return value

    def env_name(key: str, default: str) -> str:
        value = text(key, default)
        assert value is not None
        if not _ENV_NAME.fullmatch(value):
            raise ValueError(f"{path(key)}: {value!r} is not an environment variable name")
        return value

    timeout = data.get("timeout_seconds", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise ValueError(f"{path('timeout_seconds')}: expected a number in (0, 300]")

    telegram = None
    chat_id = data.get("telegram_chat_id")
    if isinstance(chat_id, int) and not isinstance(chat_id, bool):
        chat_id = str(chat_id)
    if chat_id is not None:
        if not isinstance(chat_id, str) or not re.fullmatch(r"-?\d+|@\w{4,}", chat_id):
            raise ValueError(
                f'{path("telegram_chat_id")}: expected a chat id such as "-1001234567890" '
                f'or "@channel", got {_describe(chat_id)}'
            )
        token_env = env_name("telegram_bot_token_env", DEFAULT_BOT_TOKEN_ENV)
        token = _secret(token_env, env)
        if token is None and require_secrets:
            raise ValueError(
                f"{path('telegram_bot_token_env')}: no bot token: set ${token_env}, or "
                f"${token_env}_FILE to a file holding it"
            )
        api = url("telegram_api_url", DEFAULT_TELEGRAM_API)
        assert api is not None
        telegram = TelegramSettings(chat_id=chat_id, bot_token=token or "", api_url=api)
    else:
        for key in ("telegram_bot_token_env", "telegram_api_url"):
            if key in data:
                raise ValueError(f"{path(key)}: set telegram_chat_id too, or remove this key")

    email = None
    host = text("smtp_host")
    if host is not None:
        port = data.get("smtp_port", 587)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"{path('smtp_port')}: expected a port number, got {_describe(port)}")
        security = text("smtp_security", "starttls")
        if security not in SECURITY_MODES:
            raise ValueError(
                f"{path('smtp_security')}: {security!r} is not one of {', '.join(SECURITY_MODES)}"
            )
        sender = text("smtp_from")
        if sender is None or not _ADDRESS.fullmatch(sender):
            raise ValueError(f"{path('smtp_from')}: expected an e-mail address, got {sender!r}")
        raw_to = data.get("smtp_to")
        recipients = [raw_to] if isinstance(raw_to, str) else raw_to
        if (
            not isinstance(recipients, list)
            or not recipients
            or not all(isinstance(a, str) and _ADDRESS.fullmatch(a) for a in recipients)
        ):
            raise ValueError(
                f"{path('smtp_to')}: expected an e-mail address or a list of them, "
                f"got {_describe(raw_to)}"
            )
        username = text("smtp_username")
        password = None
        if username is not None:
            password_env = env_name("smtp_password_env", DEFAULT_SMTP_PASSWORD_ENV)
            password = _secret(password_env, env)
            if password is None and require_secrets:
                raise ValueError(
                    f"{path('smtp_password_env')}: no SMTP password: set ${password_env}, or "
                    f"${password_env}_FILE to a file holding it"
                )
        elif "smtp_password_env" in data:
            raise ValueError(f"{path('smtp_password_env')}: set smtp_username too")
        email = EmailSettings(
            host=host,
            port=port,
            security=security,
            sender=sender,
            recipients=tuple(recipients),
            username=username,
            password=password,
        )
    else:
        for key in sorted(k for k in data if k.startswith("smtp_")):
            raise ValueError(f"{path(key)}: set smtp_host too, or remove this key")

    return NotifySettings(
        telegram=telegram,
        email=email,
        base_url=url("base_url", None),
        warn=flag("warn", True),
        breach=flag("breach", True),
        timeout=float(timeout),
    )


def _secret(env_name: str, env: Mapping[str, str]) -> str | None:
    if env.get(env_name):
        return env[env_name].strip()
    candidates = []
    if env.get(f"{env_name}_FILE"):
        candidates.append(Path(env[f"{env_name}_FILE"]))
    if env.get("CREDENTIALS_DIRECTORY"):
        candidates.append(Path(env["CREDENTIALS_DIRECTORY"]) / env_name)
    for candidate in candidates:
        try:
            value = candidate.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if value:
            return value
    return None


# ----- notifiers --------------------------------------------------------------------------


class TelegramNotifier:
    """Posts to a chat through the Bot API. One HTTP chokepoint: the injected httpx client
    (tests give it a MockTransport that plays the Bot API)."""

    def __init__(
        self, settings: TelegramSettings, client: httpx.Client | None = None, timeout: float = 10
    ) -> None:
        self.settings = settings
        self._own_client = client is None
        self.client = client or httpx.Client(timeout=timeout)

    @property
    def name(self) -> str:
        return "telegram"

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def send(self, subject: str, text: str) -> None:
        body = text if text.startswith(subject) else f"{subject}\n\n{text}"
        if len(body) > TELEGRAM_LIMIT:
            body = body[: TELEGRAM_LIMIT - 1] + "…"
        endpoint = f"{self.settings.api_url.rstrip('/')}/bot{self.settings.bot_token}/sendMessage"
        try:
            response = self.client.post(
                endpoint,
                json={
                    "chat_id": self.settings.chat_id,
                    "text": body,
                    "disable_web_page_preview": True,
                },
            )
        except httpx.HTTPError as exc:
            # the URL holds the token: never let it into the message
            raise NotifyError(
                f"telegram: {type(exc).__name__} talking to the Bot API", transient=True
            ) from None
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if response.status_code == 200 and isinstance(payload, dict) and payload.get("ok"):
            return
        description = str(payload.get("description", "")) if isinstance(payload, dict) else ""
        description = description.replace(self.settings.bot_token, "***")[:300]
        if response.status_code == 429:
            params = payload.get("parameters") if isinstance(payload, dict) else None
            retry = params.get("retry_after") if isinstance(params, dict) else None
            raise NotifyError(
                f"telegram: rate limited: {description}",
                transient=True,
                retry_after=float(retry) if isinstance(retry, int | float) else None,
            )
        raise NotifyError(
            f"telegram: HTTP {response.status_code}: {description or 'no description'}",
            transient=response.status_code >= 500,
        )


class EmailNotifier:
    def __init__(self, settings: EmailSettings, timeout: float = 10) -> None:
        self.settings = settings
        self.timeout = timeout

    @property
    def name(self) -> str:
        return "email"

    def close(self) -> None:
        return None

    def message(self, subject: str, text: str) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = self.settings.sender
        msg["To"] = ", ".join(self.settings.recipients)
        msg.set_content(text)
        return msg

    def send(self, subject: str, text: str) -> None:
        s = self.settings
        try:
            smtp: smtplib.SMTP
            if s.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
            with smtp:
                if s.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if s.username is not None:
                    smtp.login(s.username, s.password or "")
                smtp.send_message(self.message(subject, text))
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(f"e-mail: login refused ({exc.smtp_code})", transient=False) from None
        except smtplib.SMTPResponseException as exc:
            raise NotifyError(
                f"e-mail: server said {exc.smtp_code} {exc.smtp_error!r}",
                transient=400 <= exc.smtp_code < 500,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise NotifyError(
                f"e-mail: recipients refused: {', '.join(exc.recipients)}", transient=False
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyError(f"e-mail: {type(exc).__name__}: {exc}", transient=True) from None


def build_notifiers(
    settings: NotifySettings, *, http: httpx.Client | None = None
) -> list[TelegramNotifier | EmailNotifier]:
    """The notifiers the settings turn on (possibly none). Close them with ``close()``."""
    result: list[TelegramNotifier | EmailNotifier] = []
    if settings.telegram is not None:
        result.append(TelegramNotifier(settings.telegram, http, timeout=settings.timeout))
    if settings.email is not None:
        result.append(EmailNotifier(settings.email, timeout=settings.timeout))
    return result


def send_to_all(notifiers: Sequence[Notifier], subject: str, text: str) -> dict[str, str | None]:
    """Send to every notifier; {notifier name: None if delivered, else the reason}."""
    outcome: dict[str, str | None] = {}
    for notifier in notifiers:
        try:
            notifier.send(subject, text)
        except NotifyError as exc:
            outcome[notifier.name] = str(exc)
        else:
            outcome[notifier.name] = None
    return outcome
