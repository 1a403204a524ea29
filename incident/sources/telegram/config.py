"""A Telegram ``[[sources]]`` table -> ``TelegramSourceConfig``.

Keys: ``channel`` (the channel's public username, or its numeric id), ``enabled``, ``session``
(the session file; default ``<state directory>/telegram/<name>.session``), ``listen``,
``listen_wait_seconds``, ``send_as_channel``, ``flood_sleep_seconds``, ``display_name``,
``private_chat`` (a bot's or an account's username where citizens write privately), and where
the app's credentials come from (``api_id_env`` / ``_file``, ``api_hash_env`` / ``_file``).

The state directory is ``$STATE_DIRECTORY`` (systemd's ``StateDirectory=``), else
``$XDG_STATE_HOME/incident``, else ``~/.local/state/incident``: outside the checkout, because
a session file is a logged-in account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from incident.config import SourceContext
from incident.config.reader import ConfigError, Table
from incident.config.secrets import Secret, expand, secret_setting
from incident.models import Platform
from incident.sources.telegram.links import username_link

CHANNEL = r"@?[A-Za-z][A-Za-z0-9_]{3,31}|(-100)?[0-9]{1,20}"
USERNAME = r"@?[A-Za-z][A-Za-z0-9_]{3,31}"


@dataclass(frozen=True, slots=True)
class TelegramSourceConfig:
    """One Telegram channel: where its comments live, the app's credentials, the session."""

    name: str
    channel: str  # a username without "@", or the channel's bare numeric id (no -100)
    api_id: Secret
    api_hash: Secret
    session_path: Path
    enabled: bool = True
    listen: bool = True
    listen_wait: int = 25
    send_as_channel: bool = True
    flood_sleep_threshold: int = 60
    display_name: str = ""
    private_link: str = ""

    @property
    def platform(self) -> str:
        return Platform.TELEGRAM.value

    @property
    def community(self) -> str:
        """The channel as configured (username or id), as incidents store the community."""
        return self.channel

    @property
    def listens(self) -> bool:
        """Whether the worker keeps a live listener (``events.NewMessage``)."""
        return self.listen

    def secrets(self) -> tuple[Secret, ...]:
        return (self.api_id, self.api_hash)

    def summary(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return (
            f"telegram channel {self.channel}, {state}, session {self.session_path}, "
            f"api_id {self.api_id!r}, api_hash {self.api_hash!r}"
        )


def state_directory(environ: Mapping[str, str]) -> Path:
    """Where a deployment keeps its state: systemd's, XDG's, or ``~/.local/state/incident``."""
    if environ.get("STATE_DIRECTORY"):
        return Path(environ["STATE_DIRECTORY"].split(":")[0])
    if environ.get("XDG_STATE_HOME"):
        return Path(environ["XDG_STATE_HOME"]) / "incident"
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    return home / ".local" / "state" / "incident"


def default_session_path(name: str, environ: Mapping[str, str]) -> Path:
    return state_directory(environ) / "telegram" / f"{name}.session"


def read_telegram_config(t: Table, context: SourceContext) -> TelegramSourceConfig:
    """Read a Telegram source's keys from its ``[[sources]]`` table."""
    name, base, environ = context.name, context.base, context.environ
    enabled = t.flag("enabled", True)
    channel = t.text("channel", pattern=CHANNEL).lstrip("@")
    if channel.startswith("-100"):  # the "marked" id Telegram clients show: keep the bare id
        channel = channel.removeprefix("-100")
    env_prefix = "INCIDENT_" + re.sub(r"[^A-Z0-9]", "_", name.upper())
    api_id = secret_setting(t, "api_id", f"{env_prefix}_API_ID", base, environ)
    api_hash = secret_setting(t, "api_hash", f"{env_prefix}_API_HASH", base, environ)
    session_text = t.optional_text("session", nonempty=True)
    session = (
        expand(session_text, environ, base)
        if session_text is not None
        else default_session_path(name, environ)
    )
    if session.suffix != ".session":
        raise ConfigError(f"{t.path('session')}: a Telegram session file ends in .session")
    private_chat = t.optional_text("private_chat", pattern=USERNAME)
    cfg = TelegramSourceConfig(
        name=name,
        channel=channel,
        api_id=api_id or Secret(""),
        api_hash=api_hash or Secret(""),
        session_path=session,
        enabled=enabled,
        listen=t.flag("listen", True),
        listen_wait=t.integer("listen_wait_seconds", 25, low=1, high=300),
        send_as_channel=t.flag("send_as_channel", True),
        flood_sleep_threshold=t.integer("flood_sleep_seconds", 60, low=0, high=3600),
        display_name=t.text("display_name", ""),
        private_link=username_link(private_chat) if private_chat else "",
    )
    t.done()
    if api_id is not None and not api_id.value.isdigit():
        raise ConfigError(f"{t.where}: api_id ({api_id.origin}) must be a number")
    if enabled and context.require_secrets:
        for key, secret in (("api_id", api_id), ("api_hash", api_hash)):
            if secret is None:
                raise ConfigError(
                    f"{t.where}: no {key} (from my.telegram.org): set the environment variable "
                    f"named by {key}_env (default {env_prefix}_{key.upper()}), or {key}_env + "
                    f"'_FILE' pointing at a file, or {key}_file; see README 'Telegram'"
                )
    return cfg
