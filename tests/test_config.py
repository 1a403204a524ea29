"""config.toml: strict parsing, clear errors naming file and key, secrets from the environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from incident.config import ConfigError
from incident.wiring import load_config

SOURCE = """
[[sources]]
name = "vk-main"
group_id = 123
"""
TOKENS = {
    "INCIDENT_VK_MAIN_COMMUNITY_TOKEN": "vk1.a.community-secret-value",
    "INCIDENT_VK_MAIN_SWEEP_TOKEN": "service-secret-value",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_example_config_is_valid_and_matches_the_packaged_copy() -> None:
    root = Path(__file__).resolve().parents[1]
    shipped = (root / "config.toml").read_text(encoding="utf-8")
    packaged = (root / "incident/data/config.example.toml").read_text(encoding="utf-8")
    assert shipped == packaged
    config = load_config(root / "config.toml", environ={})
    assert config.sources == ()
    assert config.database_url == "sqlite:///" + str(root / "var/incident.sqlite3")
    assert config.worker.sweep_interval == 600.0


def test_tokens_come_from_the_environment_and_never_show_in_a_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SOURCE), environ=TOKENS)
    source = config.source("vk-main")
    assert source.community_token.value == "vk1.a.community-secret-value"
    assert source.sweep_token.value == "service-secret-value"
    assert "secret-value" not in repr(config)
    assert "secret-value" not in str(source.community_token)


def test_tokens_can_come_from_a_FILE_variable_or_a_systemd_credential(tmp_path: Path) -> None:
    (tmp_path / "community").write_text("from-file\n", encoding="utf-8")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "INCIDENT_VK_MAIN_SWEEP_TOKEN").write_text("from-credential", encoding="utf-8")
    env = {
        "INCIDENT_VK_MAIN_COMMUNITY_TOKEN_FILE": str(tmp_path / "community"),
        "CREDENTIALS_DIRECTORY": str(creds),
    }
    source = load_config(write(tmp_path, SOURCE), environ=env).source("vk-main")
    assert source.community_token.value == "from-file"
    assert source.sweep_token.value == "from-credential"


def test_a_missing_token_for_an_enabled_source_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="INCIDENT_VK_MAIN_COMMUNITY_TOKEN") as err:
        load_config(write(tmp_path, SOURCE), environ={})
    assert "config.toml" in str(err.value)
    assert "vk-main" in str(err.value)


def test_a_disabled_source_needs_no_tokens(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SOURCE + "enabled = false\n"), environ={})
    assert config.enabled_sources() == ()


def test_a_token_written_into_the_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="secrets are not written in the config file"):
        load_config(write(tmp_path, SOURCE + 'community_token = "abc"\n'), environ=TOKENS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[database]\nurl = 5\n", r"\[database\]\.url: expected a string, got int 5"),
        ("[worker]\nsweep_interval_seconds = true\n", r"sweep_interval_seconds: expected a number"),
        ("[worker]\nspeed = 1\n", r"unknown key 'speed' in \[worker\] \(known: full_sweep"),
        ("colour = 'red'\n", r"unknown key 'colour' in the top level"),
        ("[log]\nlevle = 'info'\n", r"unknown key 'levle' in \[log\]; did you mean 'level'\?"),
        ("[log]\nlevel = 'loud'\n", r"'loud' is not one of"),
        (SOURCE.replace("123", "'abc'"), r"group_id: expected an integer, got str 'abc'"),
        (SOURCE.replace("vk-main", "VK Main"), r"name: 'VK Main' does not match"),
        (SOURCE + SOURCE, r"source names must be unique; repeated: vk-main"),
        ("[database]\nurl = 'mysql://x'\n", r"expected sqlite:///PATH or postgresql"),
        ("[worker\n", r"line 1, column 8: not valid TOML: a \[table\] header lacks its `\]`"),
        (
            SOURCE + "platform = 'myspace'\n",
            r"\.platform: unknown platform 'myspace' \(known: [a-z, ]*\bvk\b",
        ),
        ("[sla]\nlunch = 1\n[notify]\ncolour = 1\n", r"\[sla\]\.lunch: expected \["),
    ],
)
def test_bad_config_gets_a_clear_error_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), environ=TOKENS)


def test_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="incident init"):
        load_config(tmp_path / "nope.toml", environ={})


def test_commands_that_never_call_a_platform_load_without_tokens(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SOURCE), environ={}, require_secrets=False)
    assert config.source("vk-main").community_token.value == ""


def test_the_sla_table_sets_the_working_calendar_and_policies(tmp_path: Path) -> None:
    text = '[sla]\nworkday_start = "10:00"\ntarget_hours = 4\n'
    config = load_config(write(tmp_path, text), environ={})
    assert config.sla.default_policy.target_hours == 4
    assert config.sla.calendar.workday_start.hour == 10


def test_a_bad_sla_value_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[sla\]\.target_hours"):
        load_config(write(tmp_path, "[sla]\ntarget_hours = 'eight'\n"), environ={})


def test_the_notify_table_configures_telegram_with_the_token_from_the_environment(
    tmp_path: Path,
) -> None:
    text = '[notify]\ntelegram_chat_id = "-100123"\nbase_url = "https://incident.example/"\n'
    env = {**TOKENS, "INCIDENT_TELEGRAM_BOT_TOKEN": "123456:bot-token-value"}
    config = load_config(write(tmp_path, text), environ=env)
    assert config.notify.telegram is not None
    assert config.notify.incident_url(5) == "https://incident.example/incidents/5"
    assert "bot-token-value" not in repr(config)


def test_a_bad_notify_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'telegram' in \[notify\]"):
        load_config(write(tmp_path, "[notify]\ntelegram = 1\n"), environ={})


def test_configuration_imports_no_platform_and_no_notification_transport() -> None:
    """Layers point down: config is given the platforms registry, it does not import sources."""
    code = (
        "import sys, incident.config\n"
        "print(sorted(m for m in sys.modules if m.startswith(('incident.sources', "
        "'incident.notify', 'incident.wiring', 'incident.web'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_source_may_have_its_own_sweep_interval_and_the_others_keep_the_workers(
    tmp_path: Path,
) -> None:
    other = SOURCE.replace("vk-main", "vk-other").replace("123", "456")
    env = TOKENS | {
        "INCIDENT_VK_OTHER_COMMUNITY_TOKEN": "vk1.a.other",
        "INCIDENT_VK_OTHER_SWEEP_TOKEN": "other-service",
    }
    text = "[worker]\nsweep_interval_seconds = 900\n" + SOURCE + "sweep_interval_seconds = 120\n"
    config = load_config(write(tmp_path, text + other), environ=env)
    assert config.sweep_interval("vk-main") == 120.0
    assert config.sweep_interval("vk-other") == 900.0


def test_a_sources_sweep_interval_below_one_second_is_refused_with_its_key(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"\(vk-main\)\.sweep_interval_seconds: 0 must be at least"
    ):
        load_config(write(tmp_path, SOURCE + "sweep_interval_seconds = 0\n"), environ=TOKENS)
