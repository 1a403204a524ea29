"""Builds a ``TelegramSource`` on the real Telethon gateway from its settings."""

from __future__ import annotations

from incident.config import SourceConfig, WorkerConfig
from incident.sources.telegram.config import TelegramSourceConfig
from incident.sources.telegram.source import Retry, TelegramSource
from incident.sources.telegram.telethon_gateway import TelethonGateway


def build_telegram_source(cfg: SourceConfig, worker: WorkerConfig) -> TelegramSource:
    """The source for a Telegram ``[[sources]]`` table (``cfg`` must be a
    ``TelegramSourceConfig``). Nothing connects until the source is first used."""
    if not isinstance(cfg, TelegramSourceConfig):
        raise TypeError(f"a Telegram source needs a TelegramSourceConfig, got {type(cfg).__name__}")
    gateway = TelethonGateway(
        channel=cfg.channel,
        session_path=cfg.session_path,
        api_id=int(cfg.api_id.value or 0),
        api_hash=cfg.api_hash.value,
        flood_sleep_threshold=cfg.flood_sleep_threshold,
    )
    return TelegramSource(
        name=cfg.name,
        community=cfg.community,
        gateway=gateway,
        send_as_channel=cfg.send_as_channel,
        listen_wait=float(cfg.listen_wait),
        retry=Retry(
            attempts=worker.retry_attempts,
            initial=worker.retry_initial,
            maximum=worker.retry_maximum,
        ),
    )
