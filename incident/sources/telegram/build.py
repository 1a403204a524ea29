"""Builds a ``TelegramSource`` from its settings: on the real Telethon gateway, or on one given
(``incident demo`` gives its in-memory ``FakeTelegram``, which no config file can name)."""

from __future__ import annotations

from incident.config import SourceConfig, WorkerConfig
from incident.sources.telegram.config import TelegramSourceConfig
from incident.sources.telegram.gateway import TelegramGateway
from incident.sources.telegram.source import Retry, TelegramSource


def build_telegram_source(
    cfg: SourceConfig, worker: WorkerConfig, *, gateway: TelegramGateway | None = None
) -> TelegramSource:
    """The source for a Telegram ``[[sources]]`` table (``cfg`` must be a
    ``TelegramSourceConfig``), on ``gateway`` if given, else on Telethon with the table's
    session and credentials. Nothing connects until the source is first used."""
    if not isinstance(cfg, TelegramSourceConfig):
        raise TypeError(f"a Telegram source needs a TelegramSourceConfig, got {type(cfg).__name__}")
    if gateway is None:
        # Telethon (its TL schema: about 40 MB) is loaded only where a Telegram source runs
        from incident.sources.telegram.telethon_gateway import TelethonGateway

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
