"""The composition root: turns a Config into engines, sources and ingestion policies."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from incident import sla
from incident.config import Config
from incident.db import make_engine
from incident.inbox import DeadlinePolicy
from incident.models import Comment
from incident.pipeline import Ingestion
from incident.sources.base import Source
from incident.sources.factory import build_vk_source


def working_hours_policy(settings: sla.SlaSettings) -> DeadlinePolicy:
    """Deadlines in working hours under the deployment's calendar and per-topic policies."""

    def policy(
        comment: Comment, seen_at: datetime, topic: str | None
    ) -> tuple[datetime, datetime | None]:
        d = sla.deadline(comment.created_at, seen_at, topic, comment.platform.value, settings)
        return d.started_at.astimezone(UTC), d.due.astimezone(UTC)

    return policy


def open_engine(config: Config) -> Engine:
    return make_engine(config.database_url)


def build_ingestion(config: Config) -> Ingestion:
    return Ingestion(deadline=working_hours_policy(config.sla))


def build_sources(config: Config, only: str | None = None) -> list[Source]:
    chosen = [config.source(only)] if only else list(config.enabled_sources())
    return [build_vk_source(cfg, config.worker) for cfg in chosen]


def known_secrets(config: Config) -> list[str]:
    return [
        s.value for src in config.sources for s in (src.community_token, src.sweep_token) if s.value
    ]
