"""`incident survey ...` as an administrator runs it: the campaign's public link is the last
line of `create`'s output, absolute once the deployment's public address is configured."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from incident.cli import main


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``incident ARGS`` in this process: (exit code, standard output, standard error)."""

    def call(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def test_survey_create_prints_the_link_last_then_list_and_close(
    tmp_path: Path, run: Callable[..., tuple[int, str, str]]
) -> None:
    config = tmp_path / "config.toml"
    assert run("--config", str(config), "init")[0] == 0
    survey = ("--config", str(config), "survey")

    code, out, err = run(*survey, "create", "--title", "Опрос 2026 года")
    assert code == 0, err
    first = out.splitlines()[-1]
    assert re.fullmatch(r"/survey/[A-Za-z0-9_-]{12}", first), out

    text = config.read_text(encoding="utf-8")
    text = text.replace("[notify]\n", '[notify]\nbase_url = "https://incident.example.ru"\n', 1)
    config.write_text(text, encoding="utf-8")
    code, out, err = run(*survey, "list")
    assert out.rstrip().endswith(
        f"\thttps://incident.example.ru{first}"
    )  # links follow the address

    text = text.replace("[survey]\n", '[survey]\npublic_url = "https://opros.example.ru/"\n', 1)
    config.write_text(text, encoding="utf-8")  # the survey's own address goes first
    code, out, err = run(*survey, "create", "--title", "Второй опрос")
    assert code == 0, err
    second = out.splitlines()[-1]
    assert re.fullmatch(r"https://opros\.example\.ru/survey/[A-Za-z0-9_-]{12}", second), out

    slug = first.rsplit("/", 1)[1]
    code, out, err = run(*survey, "close", slug)
    assert (code, out.strip()) == (0, f"campaign {slug} closed"), err
    assert run(*survey, "close", slug)[0] == 1  # closed already

    code, out, _ = run(*survey, "list")
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(second)
    assert "\topen\t0 responses\tВторой опрос\t" in lines[0]
    assert lines[1].startswith(f"{slug}\tclosed ")


def test_survey_create_refuses_a_broken_definition_naming_its_line(
    tmp_path: Path, run: Callable[..., tuple[int, str, str]]
) -> None:
    config = tmp_path / "config.toml"
    assert run("--config", str(config), "init")[0] == 0
    form = tmp_path / "form.toml"
    form.write_text('[survey]\nid = "x"\ntitle = "Опрос"\n\n[body]\nshort = "Комитет"\n')
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[survey]\n", '[survey]\ndefinition = "form.toml"\n', 1))
    code, out, err = run("--config", str(config), "survey", "create", "--title", "Опрос")
    assert code == 2
    assert out == ""
    assert f"{form}:5: body.full_genitive: must be a non-empty text" in err
