"""Staff notifications: a Telegram chat through a bot (Bot API ``sendMessage`` over httpx) and
e-mail (SMTP through smtplib), behind one small ``Notifier`` protocol.

The ``[notify]`` table and the settings it gives (``NotifySettings``, ``TelegramSettings``,
``EmailSettings``) are in ``incident.config.notify``; this module only delivers.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Protocol

import httpx

from incident.config.notify import EmailSettings, NotifySettings, TelegramSettings

TELEGRAM_LIMIT = 4096  # characters in one message


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
