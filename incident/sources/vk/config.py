"""A VK ``[[sources]]`` table -> ``VkSourceConfig``.

Keys: ``group_id``, ``enabled``, ``posts_per_sweep``, ``longpoll``, ``longpoll_wait_seconds``,
``api_url`` (only for a proxy or mirror), ``display_name``, ``private_link``, and where its two
tokens come from (``community_token_env`` / ``_file``, ``sweep_token_env`` / ``_file``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from incident.config import SourceContext
from incident.config.reader import ConfigError, Table
from incident.config.secrets import Secret, secret_setting
from incident.models import Platform
from incident.sources.vk.links import private_chat_link

VK_API_URL = "https://api.vk.ru/"


@dataclass(frozen=True, slots=True)
class VkSourceConfig:
    """One VK community's wall: its id, its two tokens and how to poll it."""

    name: str
    group_id: int
    community_token: Secret
    sweep_token: Secret
    enabled: bool = True
    posts_per_sweep: int = 20
    longpoll: bool = True
    longpoll_wait: int = 25
    api_url: str = VK_API_URL
    display_name: str = ""  # {community_name} in reply templates
    private_link: str = ""  # {private_link}: where citizens write privately (vk.me/club<id>)

    @property
    def platform(self) -> str:
        """Always VK's name."""
        return Platform.VK.value

    @property
    def community(self) -> str:
        """The group id, as incidents store the community."""
        return str(self.group_id)

    @property
    def listens(self) -> bool:
        """Whether Bots Long Poll is on."""
        return self.longpoll

    def secrets(self) -> tuple[Secret, ...]:
        """The community token and the sweep token."""
        return (self.community_token, self.sweep_token)

    def summary(self) -> str:
        """The group, enabled or not, and where the tokens came from."""
        state = "enabled" if self.enabled else "disabled"
        return (
            f"vk group {self.group_id}, {state}, community token "
            f"{self.community_token!r}, sweep token {self.sweep_token!r}"
        )


def read_vk_config(t: Table, context: SourceContext) -> VkSourceConfig:
    """Read a VK source's keys from its ``[[sources]]`` table (name and platform are read)."""
    name = context.name
    enabled = t.flag("enabled", True)
    group_id = t.integer("group_id", low=1, high=2**53)
    env_prefix = "INCIDENT_" + re.sub(r"[^A-Z0-9]", "_", name.upper())
    base, environ = context.base, context.environ
    community = secret_setting(t, "community_token", f"{env_prefix}_COMMUNITY_TOKEN", base, environ)
    sweep = secret_setting(t, "sweep_token", f"{env_prefix}_SWEEP_TOKEN", base, environ)
    cfg = VkSourceConfig(
        name=name,
        group_id=group_id,
        community_token=community or Secret(""),
        sweep_token=sweep or Secret(""),
        enabled=enabled,
        posts_per_sweep=t.integer("posts_per_sweep", 20, low=1, high=100),
        longpoll=t.flag("longpoll", True),
        longpoll_wait=t.integer("longpoll_wait_seconds", 25, low=1, high=90),
        api_url=t.text("api_url", VK_API_URL, pattern=r"https?://.+/"),
        display_name=t.text("display_name", ""),
        private_link=t.text(
            "private_link", private_chat_link(str(group_id)), pattern=r"https?://\S+"
        ),
    )
    t.done()
    if enabled and context.require_secrets:
        for key, secret in (("community_token", community), ("sweep_token", sweep)):
            if secret is None:
                raise ConfigError(
                    f"{t.where}: no {key}: set the environment variable named by {key}_env "
                    f"(default {env_prefix}_{key.upper()}), or {key}_env + '_FILE' pointing at a "
                    f"file, or {key}_file; see README 'Secrets'"
                )
    return cfg
