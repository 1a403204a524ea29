"""The demo's three communities on the fakes, and the ``[[sources]]`` tables that point at them.

``incident demo`` writes a config file like an administrator would; the part that names each
platform, its community and where its secrets are comes from here, beside the fakes it talks
to. Secrets are files under ``<demo dir>/secrets``, read through ``*_file`` keys.

The Telegram table is a real one (its channel, its credentials, a session path that is never
created): the demo builds that source on its in-memory ``FakeTelegram`` instead of Telethon,
through ``wiring.build_sources(builders=...)``, because a config file cannot name an object.
"""

from __future__ import annotations

import os
from pathlib import Path

from incident import files
from incident.sources.fakes import demo_ok, demo_telegram
from incident.sources.fakes.vk_server import FakeVk

DEMO_GROUP_ID = 217_000_001
COMMUNITY_TOKEN = "demo-community-token"  # noqa: S105 - accepted by the local fake only
SWEEP_TOKEN = "demo-service-token"  # noqa: S105

SOURCE_TEMPLATE = """\
[[sources]]
name = "vk-demo"
platform = "vk"
group_id = {group_id}
community_token_file = "secrets/vk-community-token"
sweep_token_file = "secrets/vk-sweep-token"
longpoll_wait_seconds = 5
api_url = "{api_url}"
display_name = "Комитет по защите прав потребителей (демо)"
"""

OK_TEMPLATE = """\
[[sources]]
name = "ok-demo"
platform = "ok"
group_id = {group_id}
application_key = "{application_key}"
application_secret_key_file = "secrets/ok-application-secret-key"
access_token_file = "secrets/ok-access-token"
api_url = "{api_url}"
requests_per_second = 20.0   # the local fake needs no gentleness
display_name = "Комитет по защите прав потребителей (демо, ОК)"
"""

TELEGRAM_TEMPLATE = """\
[[sources]]
name = "tg-demo"
platform = "telegram"
channel = "{channel}"
api_id_file = "secrets/tg-api-id"
api_hash_file = "secrets/tg-api-hash"
session = "telegram/tg-demo.session"   # never created: the demo's Telegram is in memory
listen_wait_seconds = 5
private_chat = "committee_bot"
display_name = "Комитет по защите прав потребителей (демо, Telegram)"
"""


def admit_demo_tokens(fake: FakeVk) -> None:
    """Make the fake accept the demo's community and service tokens."""
    fake.add_token(COMMUNITY_TOKEN, "community", DEMO_GROUP_ID)
    fake.add_token(SWEEP_TOKEN, "service")


def _write_secrets(folder: Path, secrets: dict[str, str]) -> None:
    """Each secret in its file, 0600, in ``folder/secrets`` (0700, also if it was open)."""
    target = files.private_dirs(folder / "secrets")
    os.chmod(target, files.PRIVATE_DIR)
    for name, value in secrets.items():
        files.private_file(target / name).write_text(value + "\n", encoding="utf-8")


def demo_source_table(folder: Path, api_url: str) -> str:
    """Write the demo's VK tokens under ``folder/secrets`` and return the ``[[sources]]`` table
    that reads them and calls the fake VK at ``api_url``."""
    _write_secrets(folder, {"vk-community-token": COMMUNITY_TOKEN, "vk-sweep-token": SWEEP_TOKEN})
    return SOURCE_TEMPLATE.format(group_id=DEMO_GROUP_ID, api_url=api_url)


def demo_ok_table(folder: Path, api_url: str) -> str:
    """Write the demo OK application's secret key and token under ``folder/secrets`` and return
    the ``[[sources]]`` table that reads them and calls the fake OK at ``api_url``."""
    _write_secrets(
        folder,
        {
            "ok-application-secret-key": demo_ok.APPLICATION_SECRET_KEY,
            "ok-access-token": demo_ok.ACCESS_TOKEN,
        },
    )
    return OK_TEMPLATE.format(
        group_id=demo_ok.GROUP_ID, application_key=demo_ok.APPLICATION_KEY, api_url=api_url
    )


def demo_telegram_table(folder: Path) -> str:
    """Write the demo's Telegram app credentials under ``folder/secrets`` and return the
    ``[[sources]]`` table of its channel."""
    _write_secrets(
        folder, {"tg-api-id": demo_telegram.API_ID, "tg-api-hash": demo_telegram.API_HASH}
    )
    return TELEGRAM_TEMPLATE.format(channel=demo_telegram.CHANNEL)
