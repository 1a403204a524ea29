"""Builds a ``VkSource`` from its settings and the worker's retry settings."""

from __future__ import annotations

from collections.abc import Callable

import requests

from incident.config import SourceConfig, WorkerConfig
from incident.sources.http import RewritingSession, Session
from incident.sources.vk.calls import RetryPolicy
from incident.sources.vk.config import VK_API_URL, VkSourceConfig
from incident.sources.vk.names import NameCache
from incident.sources.vk.source import VkSource

# A worker's VK sources share the author names they learn (a citizen writes under several
# communities' posts), within one bound instead of one per source: one cache per API address
# (VK's own in production; a fake's, on its own port, never mixes its names with another's).
_SHARED_NAMES: dict[str, NameCache] = {}


def vk_session_factory(api_url: str) -> Callable[[], requests.Session]:
    """Plain sessions for VK itself; sessions that rewrite VK's URL for a proxy or a fake."""
    if api_url == VK_API_URL:
        return Session
    return lambda: RewritingSession(VK_API_URL, api_url)


def build_vk_source(cfg: SourceConfig, worker: WorkerConfig) -> VkSource:
    """The source for a VK ``[[sources]]`` table (``cfg`` must be a ``VkSourceConfig``)."""
    if not isinstance(cfg, VkSourceConfig):
        raise TypeError(f"a VK source needs a VkSourceConfig, got {type(cfg).__name__}")
    return VkSource(
        name=cfg.name,
        group_id=cfg.group_id,
        community_token=cfg.community_token.value,
        sweep_token=cfg.sweep_token.value,
        session_factory=vk_session_factory(cfg.api_url),
        posts_per_sweep=cfg.posts_per_sweep,
        longpoll_wait=cfg.longpoll_wait,
        retry=RetryPolicy(
            attempts=worker.retry_attempts,
            initial=worker.retry_initial,
            maximum=worker.retry_maximum,
        ),
        throttle=worker.throttle,
        names=_SHARED_NAMES.setdefault(cfg.api_url, NameCache()),
    )
