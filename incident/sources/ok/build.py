"""Builds an ``OkSource`` from its settings and the worker's retry settings."""

from __future__ import annotations

from incident.config import SourceConfig, WorkerConfig
from incident.sources.ok.client import RetryPolicy
from incident.sources.ok.config import OkSourceConfig
from incident.sources.ok.source import OkSource


def build_ok_source(cfg: SourceConfig, worker: WorkerConfig) -> OkSource:
    """The source for an OK ``[[sources]]`` table (``cfg`` must be an ``OkSourceConfig``)."""
    if not isinstance(cfg, OkSourceConfig):
        raise TypeError(f"an OK source needs an OkSourceConfig, got {type(cfg).__name__}")
    return OkSource(
        name=cfg.name,
        group_id=cfg.group_id,
        application_key=cfg.application_key,
        application_secret_key=cfg.application_secret_key.value,
        access_token=cfg.access_token.value,
        base_url=cfg.api_url,
        posts_per_sweep=cfg.posts_per_sweep,
        retry=RetryPolicy(
            attempts=worker.retry_attempts,
            initial=worker.retry_initial,
            maximum=worker.retry_maximum,
        ),
        requests_per_second=cfg.requests_per_second if worker.throttle else None,
    )
