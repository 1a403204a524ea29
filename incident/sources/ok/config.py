"""An OK ``[[sources]]`` table -> ``OkSourceConfig``.

Keys: ``group_id``, ``application_key`` (the application's public key: not a secret),
``enabled``, ``posts_per_sweep``, ``requests_per_second``, ``api_url`` (only for a proxy or a
fake), ``display_name``, ``private_link``, and where the two secrets come from
(``application_secret_key_env`` / ``_file``, ``access_token_env`` / ``_file``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from incident.config import SourceContext
from incident.config.reader import ConfigError, Table
from incident.config.secrets import Secret, secret_setting
from incident.models import Platform
from incident.sources.ok.client import OK_API_URL
from incident.sources.ok.links import private_chat_link


@dataclass(frozen=True, slots=True)
class OkSourceConfig:
    """One OK group: its id, its application's keys, an administrator's token, how to poll."""

    name: str
    group_id: int
    application_key: str
    application_secret_key: Secret
    access_token: Secret
    enabled: bool = True
    posts_per_sweep: int = 20
    requests_per_second: float = 2.0  # OK publishes no per-second limit: stay gentle
    api_url: str = OK_API_URL
    display_name: str = ""  # {community_name} in reply templates
    private_link: str = ""  # {private_link}: where citizens write privately

    @property
    def platform(self) -> str:
        """Always OK's name."""
        return Platform.OK.value

    @property
    def community(self) -> str:
        """The group id, as incidents store the community."""
        return str(self.group_id)

    @property
    def listens(self) -> bool:
        """Never: OK has no push channel for post comments; the group is polled by sweeps."""
        return False

    def secrets(self) -> tuple[Secret, ...]:
        """The application's secret key and the access token."""
        return (self.application_secret_key, self.access_token)

    def summary(self) -> str:
        """The group, enabled or not, polled only, and where the secrets came from."""
        state = "enabled" if self.enabled else "disabled"
        return (
            f"ok group {self.group_id}, {state}, polled (no push channel), application key "
            f"{self.application_key}, secret key {self.application_secret_key!r}, access token "
            f"{self.access_token!r}"
        )


def read_ok_config(t: Table, context: SourceContext) -> OkSourceConfig:
    """Read an OK source's keys from its ``[[sources]]`` table (name and platform are read)."""
    name = context.name
    enabled = t.flag("enabled", True)
    group_id = t.integer("group_id", low=1, high=2**63 - 1)
    application_key = t.text("application_key", pattern=r"[A-Za-z0-9]+")
    env_prefix = "INCIDENT_" + re.sub(r"[^A-Z0-9]", "_", name.upper())
    base, environ = context.base, context.environ
    secret_key = secret_setting(
        t, "application_secret_key", f"{env_prefix}_APPLICATION_SECRET_KEY", base, environ
    )
    token = secret_setting(t, "access_token", f"{env_prefix}_ACCESS_TOKEN", base, environ)
    rate = t.number("requests_per_second", 2.0, low=0.1, high=20.0)
    cfg = OkSourceConfig(
        name=name,
        group_id=group_id,
        application_key=application_key,
        application_secret_key=secret_key or Secret(""),
        access_token=token or Secret(""),
        enabled=enabled,
        posts_per_sweep=t.integer("posts_per_sweep", 20, low=1, high=100),
        requests_per_second=rate,
        api_url=t.text("api_url", OK_API_URL, pattern=r"https?://.+/"),
        display_name=t.text("display_name", ""),
        private_link=t.text(
            "private_link", private_chat_link(str(group_id)), pattern=r"https?://\S+"
        ),
    )
    t.done()
    if enabled and context.require_secrets:
        for key, secret in (("application_secret_key", secret_key), ("access_token", token)):
            if secret is None:
                raise ConfigError(
                    f"{t.where}: no {key}: set the environment variable named by {key}_env "
                    f"(default {env_prefix}_{key.upper()}), or {key}_env + '_FILE' pointing at a "
                    f"file, or {key}_file; see README 'Odnoklassniki'"
                )
    return cfg
