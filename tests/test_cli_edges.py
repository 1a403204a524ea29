"""The command line's rough edges, as an administrator meets them: a reader that stops early
(`| head`), a typo or a syntax error in config.toml, a fresh `incident init` folder, the demo's
printed hints. Run in-process through ``incident.cli.main`` (no subprocess) where that takes the
same path."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from incident.cli import main
from incident.commands.common import how_to_run


@pytest.fixture
def fresh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A folder after `incident init`: its config.toml and empty database."""
    config = tmp_path / "config.toml"
    assert main(["--config", str(config), "init"]) == 0
    capsys.readouterr()
    return config


@contextmanager
def closed_pipe() -> Iterator[None]:
    """Standard output is a pipe whose reader has gone (`incident queue | head` after head
    exits): every write to it fails with EPIPE. (Inside the test: pytest's capture sets
    ``sys.stdout`` again between a fixture and the test.)"""
    read_end, write_end = os.pipe()
    os.close(read_end)
    stream = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    saved, sys.stdout = sys.stdout, stream
    try:
        yield
    finally:
        sys.stdout = saved
        with suppress(BrokenPipeError):
            stream.close()


@pytest.mark.parametrize(
    "command",
    [
        ["queue"],
        ["status"],
        ["export", "--from", "2026-10-01", "--to", "2026-10-31", "--format", "csv", "--out", "-"],
    ],
)
def test_a_reader_that_stops_early_ends_the_command_quietly_with_141(
    fresh: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with closed_pipe():
        code = main(["--config", str(fresh), *command])
    assert code == 141  # 128 + SIGPIPE, as a shell reports a command `head` cut short
    assert capsys.readouterr().err == ""  # no traceback, no "Exception ignored"


def test_a_command_whose_reader_reads_everything_still_exits_0(
    fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(fresh), "queue"]) == 0
    assert capsys.readouterr().out.strip() == "no open incidents"


def test_a_misspelt_key_is_reported_as_unknown_with_the_key_it_was_meant_to_be(
    fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with fresh.open("a", encoding="utf-8") as f:
        f.write('\n[[sources]]\nname = "vk-main"\nplatform = "vk"\ngruop_id = 217000001\n')
    assert main(["--config", str(fresh), "check-config"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'gruop_id' in [[sources]] #1; did you mean 'group_id'?" in err
    assert "missing key" not in err
    assert err.count(str(fresh)) == 1  # the file is named once


def test_a_toml_syntax_error_shows_the_file_line_column_and_the_line_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[log]\nlevel = "info"\n\n[database]\nurl = "sqlite:///x.db\n', "utf-8")
    assert main(["--config", str(config), "check-config"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (
        f"incident: configuration error: {config}, line 5, column 22: not valid TOML: "
        "the line ends inside a quoted string: close it with its quote"
    )
    assert lines[1:] == ['    url = "sqlite:///x.db', "    " + " " * 21 + "^"]


def test_after_init_in_a_new_folder_the_rules_commands_work(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(fresh.parent)  # a folder with no rules/ or replies/ of its own
    monkeypatch.delenv("INCIDENT_CONFIG", raising=False)
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "rules: " in out
    assert "the rules shipped with incident" in out
    assert main(["classify", "Купила чайник, через неделю сломался, магазин не меняет"]) == 0
    assert "Тема: trade" in capsys.readouterr().out
    assert main(["rules", "check"]) == 0
    assert "Всё в порядке." in capsys.readouterr().out


def test_a_missing_rules_folder_is_named_with_the_setting_that_chose_it(
    fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = fresh.read_text(encoding="utf-8").replace('# rules = "rules"', 'rules = "my-rules"')
    fresh.write_text(text, encoding="utf-8")
    missing = fresh.parent / "my-rules"
    assert main(["--config", str(fresh), "check-config"]) == 2
    err = capsys.readouterr().err
    assert f"{missing} is not a directory ([paths] rules in {fresh})" in err
    assert main(["--config", str(fresh), "classify", "текст"]) == 1
    err = capsys.readouterr().err
    assert f"({missing}; откуда: параметр [paths] rules в {fresh})" in err
    assert main(["--config", str(fresh), "rules", "check", "--rules", "elsewhere"]) == 1
    assert "откуда: параметр --rules" in capsys.readouterr().err


def test_the_command_hint_names_the_program_as_it_can_be_typed_in_this_folder(
    tmp_path: Path,
) -> None:
    checkout = tmp_path / "incident"
    program = checkout / ".venv" / "bin" / "incident"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    program.chmod(0o755)
    nowhere = tmp_path / "empty-bin"
    nowhere.mkdir()

    def lookup(path: Path) -> Callable[[str], str | None]:
        return lambda name: shutil.which(name, path=str(path))

    # started as `.venv/bin/incident demo` in a fresh clone, where `incident` is on no PATH
    assert how_to_run(".venv/bin/incident", checkout, which=lookup(nowhere)) == (
        ".venv/bin/incident"
    )
    assert how_to_run(str(program), checkout, which=lookup(nowhere)) == ".venv/bin/incident"
    # from another folder: the full path
    assert how_to_run(str(program), tmp_path / "elsewhere", which=lookup(nowhere)) == str(program)
    # the PATH finds this very program (an activated venv, an installed one): the bare name
    assert how_to_run(str(program), tmp_path, which=lookup(program.parent)) == "incident"
    # `python -m incident`: the same Python, the same way
    python = checkout / ".venv" / "bin" / "python"
    main_py = str(checkout / "incident" / "__main__.py")
    assert how_to_run(main_py, checkout, executable=str(python)) == ".venv/bin/python -m incident"
    spaced = tmp_path / "my venv" / "python"
    assert how_to_run(main_py, checkout, executable=str(spaced)) == f"'{spaced}' -m incident"


def test_an_administrator_sets_the_name_the_app_shows_for_an_account(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INCIDENT_USER_PASSWORD", "correct horse battery")
    config = ["--config", str(fresh)]
    assert main([*config, "user", "add", "anna"]) == 0
    assert main([*config, "user", "name", "anna", "  Анна   Петрова "]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "anna is shown as Анна Петрова"
    assert main([*config, "user", "list"]) == 0
    assert capsys.readouterr().out.strip().endswith("\tАнна Петрова")
    # refused with a reason: nobody of that login, a name that is blank or not text
    assert main([*config, "user", "name", "ghost", "Призрак"]) == 1
    assert "нет пользователя ghost" in capsys.readouterr().err
    assert main([*config, "user", "name", "anna", "   "]) == 1
    assert "укажите имя" in capsys.readouterr().err
    assert main([*config, "user", "name", "anna", "Анна\udcff"]) == 1
    assert "недопустимые символы" in capsys.readouterr().err
