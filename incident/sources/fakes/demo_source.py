"""The demo's community on the fake VK server, and the ``[[sources]]`` table that points at it.

``incident demo`` writes a config file like an administrator would; the part that names the
platform, the community and where its tokens are comes from here, beside the fake it talks to.
"""

from __future__ import annotations

from pathlib import Path

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


def admit_demo_tokens(fake: FakeVk) -> None:
    """Make the fake accept the demo's community and service tokens."""
    fake.add_token(COMMUNITY_TOKEN, "community", DEMO_GROUP_ID)
    fake.add_token(SWEEP_TOKEN, "service")


def demo_source_table(folder: Path, api_url: str) -> str:
    """Write the demo's tokens under ``folder/secrets`` and return the ``[[sources]]`` table
    that reads them and calls the fake at ``api_url``."""
    secrets = folder / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    (secrets / "vk-community-token").write_text(COMMUNITY_TOKEN + "\n", encoding="utf-8")
    (secrets / "vk-sweep-token").write_text(SWEEP_TOKEN + "\n", encoding="utf-8")
    return SOURCE_TEMPLATE.format(group_id=DEMO_GROUP_ID, api_url=api_url)
