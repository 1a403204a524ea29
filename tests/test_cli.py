"""The command line as an administrator uses it: init, check-config, db upgrade, status, queue,
reply, and the demo's end-to-end run."""

from __future__ import annotations

import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from incident.cli import main


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "incident", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=120,
        umask=0o022,  # the usual one: files 0644 and folders 0755 unless made private
    )
    return proc.returncode, proc.stdout, proc.stderr


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def umask_of(pid: int) -> int | None:
    """The umask of a running process (Linux), None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    found = re.search(r"^Umask:\s+([0-7]+)$", status, flags=re.MULTILINE)
    assert found, status
    return int(found.group(1), 8)


def test_init_writes_a_config_and_a_database_that_the_other_commands_use(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    code, out, err = run("--config", str(config), "init")
    assert code == 0, err
    assert config.exists()
    assert (tmp_path / "var" / "incident.sqlite3").exists()
    assert "wrote" in out
    # comments and names live in the database: for the user that runs incident only
    assert (mode(tmp_path / "var"), mode(tmp_path / "var" / "incident.sqlite3")) == (0o700, 0o600)
    code, out, _ = run("--config", str(config), "check-config")
    assert code == 0
    assert "sources: none configured" in out
    code, out, _ = run("--config", str(config), "queue")
    assert (code, out.strip()) == (0, "no open incidents")
    code, out, _ = run("--config", str(config), "status")
    assert code == 0
    assert "0 comments stored, 0 incidents open, 0 replies posted" in out
    code, _, err = run("--config", str(config), "reply", "7", "--text", "Здравствуйте")
    assert code == 1
    assert "no incident 7" in err


def test_init_refuses_to_overwrite_an_existing_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("# mine\n", encoding="utf-8")
    code, _, err = run("--config", str(config), "init")
    assert code == 2
    assert "--force" in err
    assert config.read_text(encoding="utf-8") == "# mine\n"


def test_a_configuration_error_exits_2_with_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[worker]\nsweep_interval_seconds = 'often'\n", encoding="utf-8")
    code, _, err = run("--config", str(config), "check-config")
    assert code == 2
    assert str(config) in err
    assert "sweep_interval_seconds: expected a number" in err


def test_a_missing_token_is_reported_without_printing_any_secret(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[[sources]]\nname = "vk-main"\ngroup_id = 1\n', encoding="utf-8")
    code, _, err = run(
        "--config",
        str(config),
        "check-config",
        env={"INCIDENT_VK_MAIN_SWEEP_TOKEN": "vk1.a.should-never-be-printed-0123456789"},
    )
    assert code == 2
    assert "INCIDENT_VK_MAIN_COMMUNITY_TOKEN" in err
    assert "should-never-be-printed" not in err


def test_commands_that_need_the_schema_say_how_to_create_it(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "sqlite:///empty.sqlite3"\n', encoding="utf-8")
    assert main(["--config", str(config), "queue"]) == 2


def test_the_config_path_defaults_to_the_INCIDENT_CONFIG_variable(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    code, _, err = run("init", env={"INCIDENT_CONFIG": str(config)}, cwd=tmp_path)
    assert code == 0, err
    assert config.exists()


def test_sla_due_uses_the_deployments_calendar(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[sla]\nworkday_start = "10:00"\nworkday_end = "19:00"\n', encoding="utf-8")
    code, out, err = run(
        "--config", str(config), "sla", "due", "--from", "2026-11-20T18:59:00+03:00", "--hours", "8"
    )
    assert code == 0, err
    assert out.strip() == "2026-11-23T17:59:00+03:00"


def test_the_demo_stores_comments_opens_incidents_and_posts_replies(tmp_path: Path) -> None:
    code, out, err = run(
        "demo",
        "--seconds",
        "12",
        "--dir",
        str(tmp_path / "demo"),
        "--reply-every",
        "2",
        "--comment-every",
        "1",
    )
    assert code == 0, err
    summary, by_platform = out.strip().splitlines()[-2:]
    match = re.fullmatch(
        r"demo: (\d+) comments? stored, (\d+) incidents? open, (\d+) repl(?:y|ies) posted", summary
    )
    assert match, summary
    stored, open_, posted = map(int, match.groups())
    assert stored > 40  # the seeded comments and the ones that arrived live
    assert open_ > 0
    assert posted >= 2
    counts = re.fullmatch(r"demo: by platform vk=(\d+) ok=(\d+) telegram=(\d+)", by_platform)
    assert counts, by_platform
    vk, ok, telegram = map(int, counts.groups())
    # every platform's comments reached the database
    assert min(vk, ok, telegram) > 0, by_platform
    assert vk + ok + telegram == stored
    assert (tmp_path / "demo" / "incident.sqlite3").exists()
    # the printed hint works as written, typed in the same folder
    hint = next(line for line in out.splitlines() if "in another terminal:" in line)
    command = hint.split("in another terminal:", 1)[1].strip()
    assert command.endswith(" queue")
    typed = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60)
    assert typed.returncode == 0, typed.stderr
    assert typed.stdout.startswith("ID ")
    # the demo's folder, database, config and tokens are for its user only
    demo = tmp_path / "demo"
    assert mode(demo) == 0o700
    assert mode(demo / "secrets") == 0o700
    written = [p for p in demo.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"incident.sqlite3", "config.toml", "vk-sweep-token"}
    assert {p.name: mode(p) for p in written} == {p.name: 0o600 for p in written}


@pytest.mark.parametrize("command", [["run"], ["web", "--port", "0"]])
def test_the_worker_and_the_web_app_create_files_for_their_user_only(
    tmp_path: Path, command: list[str]
) -> None:
    config = tmp_path / "config.toml"
    assert run("--config", str(config), "init")[0] == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "incident", "--config", str(config), *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        umask=0o022,
    )
    try:
        deadline = time.monotonic() + 30
        while umask_of(proc.pid) == 0o022 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert umask_of(proc.pid) == 0o077
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_the_command_table_names_the_module_that_registers_each_command() -> None:
    import argparse
    import importlib

    from incident.cli import COMMAND_MODULES

    registered: dict[str, str] = {}
    for module in dict.fromkeys(COMMAND_MODULES.values()):
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"incident.commands.{module}").register(sub)
        registered.update(dict.fromkeys(sub.choices, module))
    assert registered == COMMAND_MODULES


def test_the_worker_command_loads_neither_the_web_app_nor_spreadsheets_nor_telethon() -> None:
    # Each library here is tens of MB of a long-running worker's memory it never uses.
    code = (
        "import sys; from incident import cli; cli.build_parser('run').parse_args(['run']); "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'openpyxl', 'telethon', 'jinja2') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip() == "[]"
