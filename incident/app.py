"""The composition root: turns a Config into engines, sources and ingestion policies."""

from __future__ import annotations

from sqlalchemy import Engine

from incident.config import Config
from incident.db import make_engine
from incident.inbox import calendar_hours
from incident.pipeline import Ingestion
from incident.sources.base import Source
from incident.sources.factory import build_vk_source

DEFAULT_TARGET_HOURS = 8.0


def open_engine(config: Config) -> Engine:
    return make_engine(config.database_url)


def build_ingestion(config: Config) -> Ingestion:
    return Ingestion(deadline=calendar_hours(DEFAULT_TARGET_HOURS))


def build_sources(config: Config, only: str | None = None) -> list[Source]:
    chosen = [config.source(only)] if only else list(config.enabled_sources())
    return [build_vk_source(cfg, config.worker) for cfg in chosen]


def known_secrets(config: Config) -> list[str]:
    return [
        s.value for src in config.sources for s in (src.community_token, src.sweep_token) if s.value
    ]
