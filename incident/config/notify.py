"""The ``[notify]`` table: which staff channels are on, and their settings.

Configuration (every key is optional)::

    [notify]
    base_url = "https://incident.example.ru"   # links to incident cards in messages
    warn = true                                # "the deadline is near" (at [sla] warn_at)
    breach = true                              # "the deadline has passed"
    mass_issue_threshold = 5                   # open complaints about one organisation or
                                               # address within 24 h that alert (0: never)
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
The transports that use these settings are in ``incident.notify``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from incident.config.reader import ConfigError, Table, describe
from incident.config.secrets import ENV_NAME, lenient_secret

DEFAULT_TELEGRAM_API = "https://api.telegram.org"
DEFAULT_BOT_TOKEN_ENV = "INCIDENT_TELEGRAM_BOT_TOKEN"  # noqa: S105 -- a variable name
DEFAULT_SMTP_PASSWORD_ENV = "INCIDENT_SMTP_PASSWORD"  # noqa: S105 -- a variable name
SECURITY_MODES = ("starttls", "ssl", "none")


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """Where the bot posts: a chat, with the bot's token, through the Bot API at ``api_url``."""

    chat_id: str
    bot_token: str = field(repr=False)
    api_url: str = DEFAULT_TELEGRAM_API


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """An SMTP server, the sender and the recipients of the notification e-mails."""

    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """The channels that are on (None: off) and what they are told about."""

    telegram: TelegramSettings | None = None
    email: EmailSettings | None = None
    base_url: str | None = None
    warn: bool = True
    breach: bool = True
    timeout: float = 10.0
    mass_issue_threshold: int = 5  # complaints about one organisation or address in 24 h

    def incident_url(self, incident_id: int) -> str | None:
        """The link to an incident's card in the web app, when ``base_url`` is set."""
        if self.base_url is None:
            return None
        return f"{self.base_url.rstrip('/')}/incidents/{incident_id}"


_KEYS = frozenset(
    {
        "base_url",
        "warn",
        "breach",
        "mass_issue_threshold",
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
_ADDRESS = re.compile(r"[^@\s<>,]+@[^@\s<>,]+")
_URL = r"https?://\S+"


def notify_settings_from_mapping(
    data: Mapping[str, Any],
    where: str,
    environ: Mapping[str, str] | None = None,
    *,
    require_secrets: bool = True,
) -> NotifySettings:
    """Parse the ``[notify]`` table. Raises ConfigError (a ValueError) naming ``where`` and the key.

    ``require_secrets=False`` is for processes that send nothing (the web app): a missing
    token or password is then left empty instead of being an error.
    """
    env = os.environ if environ is None else environ
    t = Table(data, where, _KEYS)
    timeout = t.raw("timeout_seconds", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise ConfigError(f"{t.path('timeout_seconds')}: expected a number in (0, 300]")
    telegram = _telegram(t, env, require_secrets)
    email = _email(t, env, require_secrets)
    settings = NotifySettings(
        telegram=telegram,
        email=email,
        base_url=_url(t, "base_url"),
        warn=t.flag("warn", True),
        breach=t.flag("breach", True),
        timeout=float(timeout),
        mass_issue_threshold=t.integer("mass_issue_threshold", 5, low=0, high=10_000),
    )
    t.done()
    return settings


def _url(t: Table, key: str, default: str | None = None) -> str | None:
    value = (
        t.optional_text(key, strip=True) if default is None else t.text(key, default, strip=True)
    )
    if value is not None and not re.fullmatch(_URL, value):
        raise ConfigError(f"{t.path(key)}: expected an http(s) URL, got {value!r}")
    return value


def _env_name(t: Table, key: str, default: str) -> str:
    value = t.text(key, default, strip=True)
    if not re.fullmatch(ENV_NAME, value):
        raise ConfigError(f"{t.path(key)}: {value!r} is not an environment variable name")
    return value


def _telegram(t: Table, env: Mapping[str, str], require_secrets: bool) -> TelegramSettings | None:
    chat_id = t.raw("telegram_chat_id")
    if isinstance(chat_id, int) and not isinstance(chat_id, bool):
        chat_id = str(chat_id)
    if chat_id is None:
        for key in ("telegram_bot_token_env", "telegram_api_url"):
            if t.has(key):
                raise ConfigError(f"{t.path(key)}: set telegram_chat_id too, or remove this key")
        return None
    if not isinstance(chat_id, str) or not re.fullmatch(r"-?\d+|@\w{4,}", chat_id):
        raise ConfigError(
            f'{t.path("telegram_chat_id")}: expected a chat id such as "-1001234567890" '
            f'or "@channel", got {describe(chat_id)}'
        )
    token_env = _env_name(t, "telegram_bot_token_env", DEFAULT_BOT_TOKEN_ENV)
    token = lenient_secret(token_env, env)
    if token is None and require_secrets:
        raise ConfigError(
            f"{t.path('telegram_bot_token_env')}: no bot token: set ${token_env}, or "
            f"${token_env}_FILE to a file holding it"
        )
    api = _url(t, "telegram_api_url", DEFAULT_TELEGRAM_API)
    assert api is not None
    return TelegramSettings(chat_id=chat_id, bot_token=token or "", api_url=api)


def _email(t: Table, env: Mapping[str, str], require_secrets: bool) -> EmailSettings | None:
    host = t.optional_text("smtp_host", strip=True)
    if host is None:
        for key in t.unread():
            if key.startswith("smtp_"):
                raise ConfigError(f"{t.path(key)}: set smtp_host too, or remove this key")
        return None
    port = t.raw("smtp_port", 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{t.path('smtp_port')}: expected a port number, got {describe(port)}")
    security = t.text("smtp_security", "starttls", strip=True)
    if security not in SECURITY_MODES:
        raise ConfigError(
            f"{t.path('smtp_security')}: {security!r} is not one of {', '.join(SECURITY_MODES)}"
        )
    sender = t.optional_text("smtp_from", strip=True)
    if sender is None or not _ADDRESS.fullmatch(sender):
        raise ConfigError(f"{t.path('smtp_from')}: expected an e-mail address, got {sender!r}")
    raw_to = t.raw("smtp_to")
    recipients = [raw_to] if isinstance(raw_to, str) else raw_to
    if (
        not isinstance(recipients, list)
        or not recipients
        or not all(isinstance(a, str) and _ADDRESS.fullmatch(a) for a in recipients)
    ):
        raise ConfigError(
            f"{t.path('smtp_to')}: expected an e-mail address or a list of them, "
            f"got {describe(raw_to)}"
        )
    username = t.optional_text("smtp_username", strip=True)
    password = None
    if username is not None:
        password_env = _env_name(t, "smtp_password_env", DEFAULT_SMTP_PASSWORD_ENV)
        password = lenient_secret(password_env, env)
        if password is None and require_secrets:
            raise ConfigError(
                f"{t.path('smtp_password_env')}: no SMTP password: set ${password_env}, or "
                f"${password_env}_FILE to a file holding it"
            )
    elif t.has("smtp_password_env"):
        raise ConfigError(f"{t.path('smtp_password_env')}: set smtp_username too")
    return EmailSettings(
        host=host,
        port=port,
        security=security,
        sender=sender,
        recipients=tuple(recipients),
        username=username,
        password=password,
    )
