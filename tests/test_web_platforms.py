"""Every platform in the staff app: its title and badge, the link to the original comment, the
reply length limit, the private link of that page (a VK and an OK page with the same id kept
apart), and `incident status` listing the sources of every platform."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from incident.commands.web import apply_reply_values
from incident.models import Platform
from incident.users import Role
from incident.web.suggestions import Suggestions, load_suggestions
from incident.wiring import load_config
from tests.conftest import FakeClock
from tests.world import add_incident, add_user, login, make_app

ROOT = Path(__file__).resolve().parent.parent
OK_GROUP = "53038939046008"
TG_CHANNEL = "committee_news"

# One source per platform; the VK and the OK group share the numeric id 42.
CONFIG = """
[database]
url = "sqlite:///incident.sqlite3"

[[sources]]
name = "vk-main"
group_id = 42
display_name = "Комитет во ВКонтакте"

[[sources]]
name = "ok-main"
platform = "ok"
group_id = 42
application_key = "CBAPUBLICKEY"
display_name = "Комитет в Одноклассниках"

[[sources]]
name = "ok-big"
platform = "ok"
group_id = 53038939046008
application_key = "CBAPUBLICKEY"

[[sources]]
name = "tg-main"
platform = "telegram"
channel = "committee_news"
private_chat = "committee_bot"
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def suggestions(config_path: Path) -> Suggestions:
    k = load_suggestions(ROOT / "rules", ROOT / "replies")
    apply_reply_values(k, load_config(config_path, environ={}, require_secrets=False))
    return k


@pytest.fixture
def anna(engine: Engine, clock: FakeClock, suggestions: Suggestions) -> Iterator[TestClient]:
    add_user(engine, "anna", Role.STAFF, clock())
    with TestClient(make_app(engine, clock, suggestions=suggestions)) as client:
        assert login(client, "anna").status_code == 303
        yield client


def incident_on(
    engine: Engine,
    clock: FakeClock,
    platform: Platform,
    community: str,
    post: str,
    comment: str,
    text: str = "Магазин не вернул деньги за утюг",
) -> int:
    found = add_incident(
        engine,
        clock(),
        text,
        external_id=comment,
        post_id=post,
        platform=platform,
        community=community,
        topic="trade",
    )
    assert found is not None
    return found


def test_an_ok_card_shows_odnoklassniki_its_links_and_its_limit(
    anna: TestClient, engine: Engine, clock: FakeClock
) -> None:
    found = incident_on(engine, clock, Platform.OK, OK_GROUP, "154981234567", "7788")
    page = anna.get(f"/incidents/{found}")
    assert page.status_code == 200
    assert "Одноклассники" in page.text
    assert 'class="pf pf-ok"' in page.text
    comment = f"https://ok.ru/group/{OK_GROUP}/topic/154981234567?commentId=7788"
    assert f'href="{comment}"' in page.text
    assert f'href="https://ok.ru/group/{OK_GROUP}/topic/154981234567"' in page.text  # the post
    assert 'data-limit="4000"' in page.text
    private = f"https://ok.ru/group/{OK_GROUP}/messages"
    assert f'href="{private}"' in page.text
    assert "vk.me" not in page.text
    assert "vk.com" not in page.text
    card = anna.get(f"/api/incidents/{found}").json()
    assert (card["platform"], card["platform_title"]) == ("ok", "Одноклассники")
    assert (card["link"], card["limit"], card["private_link"]) == (comment, 4000, private)
    private_drafts = [d for d in card["drafts"] if d["kind"] == "move-to-private"]
    assert any(private in d["text"] for d in private_drafts)


def test_a_telegram_card_shows_t_me_links_the_configured_private_chat_and_4096(
    anna: TestClient, engine: Engine, clock: FakeClock
) -> None:
    found = incident_on(engine, clock, Platform.TELEGRAM, TG_CHANNEL, "12", "340")
    page = anna.get(f"/incidents/{found}")
    assert page.status_code == 200
    assert "Telegram" in page.text
    assert 'class="pf pf-telegram"' in page.text
    assert f'href="https://t.me/{TG_CHANNEL}/12?comment=340"' in page.text
    assert f'href="https://t.me/{TG_CHANNEL}/12"' in page.text
    assert 'data-limit="4096"' in page.text
    assert 'href="https://t.me/committee_bot"' in page.text
    card = anna.get(f"/api/incidents/{found}").json()
    assert card["limit"] == 4096
    assert card["private_link"] == "https://t.me/committee_bot"
    assert any(
        "https://t.me/committee_bot" in d["text"]
        for d in card["drafts"]
        if d["kind"] == "move-to-private"
    )


def test_a_vk_and_an_ok_page_with_the_same_id_keep_their_own_private_links_and_names(
    anna: TestClient, engine: Engine, clock: FakeClock, suggestions: Suggestions
) -> None:
    assert suggestions.place("vk", "42") == ("Комитет во ВКонтакте", "https://vk.me/club42")
    assert suggestions.place("ok", "42") == (
        "Комитет в Одноклассниках",
        "https://ok.ru/group/42/messages",
    )
    vk = incident_on(engine, clock, Platform.VK, "42", "7", "100")
    ok = incident_on(engine, clock, Platform.OK, "42", "7", "100")
    vk_card = anna.get(f"/api/incidents/{vk}").json()
    ok_card = anna.get(f"/api/incidents/{ok}").json()
    assert vk_card["private_link"] == "https://vk.me/club42"
    assert ok_card["private_link"] == "https://ok.ru/group/42/messages"
    assert vk_card["link"] == "https://vk.com/wall-42_7?reply=100"
    assert ok_card["link"] == "https://ok.ru/group/42/topic/7?commentId=100"
    vk_texts = " ".join(d["text"] for d in vk_card["drafts"])
    ok_texts = " ".join(d["text"] for d in ok_card["drafts"])
    assert "ok.ru" not in vk_texts
    assert "vk.me" not in ok_texts


def test_without_a_configured_page_the_private_link_comes_from_the_platform(
    engine: Engine, clock: FakeClock
) -> None:
    k = load_suggestions(ROOT / "rules", ROOT / "replies")
    assert k.place("vk", "7") == (None, "https://vk.me/club7")
    assert k.place("ok", "7") == (None, "https://ok.ru/group/7/messages")
    assert k.place("telegram", TG_CHANNEL) == (None, None)  # a channel has no private chat
    assert k.place("nowhere", "7") == (None, None)
    builtin = Suggestions().drafts(None, None, "ok", None, "7")
    assert "https://ok.ru/group/7/messages" in builtin[0].text


def test_the_queue_marks_each_row_with_its_platform(
    anna: TestClient, engine: Engine, clock: FakeClock
) -> None:
    # three different complaints: copies of one would be one row (a group of repeats)
    incident_on(engine, clock, Platform.VK, "42", "7", "1")
    incident_on(engine, clock, Platform.OK, OK_GROUP, "7", "2", "Чайник сломался через день")
    incident_on(engine, clock, Platform.TELEGRAM, TG_CHANNEL, "7", "3", "Такси не приехало")
    page = anna.get("/queue")
    assert page.status_code == 200
    for platform, title, mark in (
        ("vk", "ВКонтакте", "ВК"),
        ("ok", "Одноклассники", "ОК"),
        ("telegram", "Telegram", "TG"),
    ):
        assert f'<span class="pf pf-{platform}">' in page.text
        assert f'<span class="pf-name">{title}</span>' in page.text
        assert f">{mark}</text></svg>" in page.text
    # the badge is decoration: the title beside it is the accessible text
    assert page.text.count('aria-hidden="true" focusable="false"') >= 3
    for platform in ("ok", "telegram"):
        rows = anna.get("/api/incidents", params={"platform": platform}).json()["items"]
        assert [r["platform"] for r in rows] == [platform]


def test_status_lists_every_configured_source_of_every_platform(config_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENT_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "incident", "--config", str(config_path), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    assert run("db", "upgrade").returncode == 0
    done = run("status")  # no secret is set: status needs none
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line.strip()}
    assert lines["SOURCE"][:3] == ["SOURCE", "PLATFORM", "STATE"]
    for name, platform in (
        ("vk-main", "vk"),
        ("ok-main", "ok"),
        ("ok-big", "ok"),
        ("tg-main", "telegram"),
    ):
        assert lines[name][:4] == [name, platform, "never", "run"]
