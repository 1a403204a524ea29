"""Where the Telegram session may live and how it is protected; reading a Telegram
``[[sources]]`` table. Nothing here talks to Telegram."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from incident.cli import build_parser
from incident.commands.telegram import (
    CHECKOUT,
    SessionPathError,
    check_session_path,
    prepare_session_folder,
    protect_session,
    telegram_source,
)
from incident.config import ConfigError, parse_config
from incident.sources.registry import PLATFORMS
from incident.sources.telegram.config import TelegramSourceConfig


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_session_inside_the_checkout_is_refused() -> None:
    with pytest.raises(SessionPathError, match="inside the checkout"):
        check_session_path(CHECKOUT / "state" / "tg-main.session")


def test_a_session_inside_any_git_working_tree_is_refused(tmp_path: Path) -> None:
    (tmp_path / "project" / ".git").mkdir(parents=True)
    with pytest.raises(SessionPathError, match="git working tree"):
        check_session_path(
            tmp_path / "project" / "sessions" / "tg.session", checkout=tmp_path / "x"
        )


def test_a_session_file_must_end_in_dot_session(tmp_path: Path) -> None:
    with pytest.raises(SessionPathError, match=r"\.session"):
        check_session_path(tmp_path / "tg-main.sqlite", checkout=tmp_path / "x")


def test_a_session_in_the_state_directory_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "state" / "telegram" / "tg-main.session"
    assert check_session_path(path, checkout=tmp_path / "checkout") == path.resolve()


def test_the_session_folder_is_created_private_and_tightened_if_open(tmp_path: Path) -> None:
    path = tmp_path / "state" / "telegram" / "tg-main.session"
    prepare_session_folder(path)
    assert mode(path.parent) == 0o700
    path.parent.chmod(0o755)
    prepare_session_folder(path)
    assert mode(path.parent) == 0o700


def test_the_session_file_and_its_journal_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "tg-main.session"
    journal = tmp_path / "tg-main.session-journal"
    for f in (path, journal):
        f.write_bytes(b"")
        f.chmod(0o644)
    protect_session(path)
    assert (mode(path), mode(journal)) == (0o600, 0o600)


def config_with(source: str, environ: dict[str, str], tmp_path: Path) -> tuple[object, ...]:
    import tomllib

    data = tomllib.loads(source)
    cfg = parse_config(data, tmp_path / "config.toml", environ, platforms=PLATFORMS)
    return cfg.sources


TABLE = """
[[sources]]
name = "tg-main"
platform = "telegram"
channel = "@committee_news"
private_chat = "committee_bot"
"""
SECRETS = {"INCIDENT_TG_MAIN_API_ID": "123456", "INCIDENT_TG_MAIN_API_HASH": "0123abcd"}


def test_a_telegram_source_reads_its_keys_and_its_secrets_from_the_environment(
    tmp_path: Path,
) -> None:
    [cfg] = config_with(TABLE, {**SECRETS, "STATE_DIRECTORY": "/var/lib/incident"}, tmp_path)
    assert isinstance(cfg, TelegramSourceConfig)
    assert (cfg.channel, cfg.community, cfg.listens, cfg.send_as_channel) == (
        "committee_news",
        "committee_news",
        True,
        True,
    )
    assert (cfg.api_id.value, cfg.api_hash.value) == ("123456", "0123abcd")
    assert cfg.session_path == Path("/var/lib/incident/telegram/tg-main.session")
    assert cfg.private_link == "https://t.me/committee_bot"
    assert "0123abcd" not in cfg.summary()


def test_without_a_state_directory_the_session_goes_under_the_users_state_home(
    tmp_path: Path,
) -> None:
    [cfg] = config_with(TABLE, {**SECRETS, "HOME": "/home/officer"}, tmp_path)
    assert isinstance(cfg, TelegramSourceConfig)
    assert cfg.session_path == Path("/home/officer/.local/state/incident/telegram/tg-main.session")


def test_api_credentials_written_in_the_config_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not written in the config file"):
        config_with(TABLE + 'api_hash = "0123abcd"\n', SECRETS, tmp_path)


def test_missing_api_credentials_name_where_they_come_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"my\.telegram\.org"):
        config_with(TABLE, {}, tmp_path)


def test_login_picks_the_named_telegram_source(tmp_path: Path) -> None:
    sources = config_with(TABLE, SECRETS, tmp_path)
    assert telegram_source(sources, None).name == "tg-main"
    with pytest.raises(ConfigError, match="no Telegram source named"):
        telegram_source(sources, "tg-other")


def test_the_command_line_knows_telegram_login() -> None:
    args = build_parser().parse_args(["telegram", "login", "--source", "tg-main"])
    assert (args.telegram_command, args.source, args.needs_secrets) == ("login", "tg-main", True)


def test_a_private_channel_is_named_by_its_id_with_or_without_the_minus_100(
    tmp_path: Path,
) -> None:
    for written in ("-1001234567890", "1234567890"):
        table = TABLE.replace('"@committee_news"', f'"{written}"')
        [cfg] = config_with(table, SECRETS, tmp_path)
        assert isinstance(cfg, TelegramSourceConfig)
        assert cfg.channel == "1234567890"
