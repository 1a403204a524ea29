"""Builds configured sources. The only place that knows which class serves which platform."""

from __future__ import annotations

from collections.abc import Callable

import requests

from incident.config import VK_API_URL, VkSourceConfig, WorkerConfig
from incident.sources.http import RewritingSession
from incident.sources.vk import RetryPolicy, VkSource


def vk_session_factory(api_url: str) -> Callable[[], requests.Session]:
    if api_url == VK_API_URL:
        return requests.Session
    return lambda: RewritingSession(VK_API_URL, api_url)


def build_vk_source(cfg: VkSourceConfig, worker: WorkerConfig) -> VkSource:
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
    )
