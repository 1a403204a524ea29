"""``incident sla due`` and ``incident sla calendar``."""

from __future__ import annotations

import argparse
from datetime import time

import pytest

from incident.commands.sla import register
from incident.config.sla import sla_settings_from_mapping
from incident.sla import SlaSettings
from incident.workcal import WorkingCalendar


def run(argv: list[str], settings: SlaSettings | None = None) -> int:
    parser = argparse.ArgumentParser(prog="incident")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    if settings is not None:
        args.sla_settings = settings
    code: int = args.handler(args)
    return code


def test_due_prints_the_issue_example(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["sla", "due", "--from", "2026-11-20T17:59:00+03:00", "--hours", "8"])
    out = capsys.readouterr()
    assert code == 0
    assert out.out == "2026-11-23T16:59:00+03:00\n"
    assert out.err == ""


def test_due_converts_other_zones_to_the_deployment_zone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["sla", "due", "--from", "2026-11-20T14:59:00Z", "--hours", "8"]) == 0
    assert capsys.readouterr().out == "2026-11-23T16:59:00+03:00\n"


def test_due_defaults_to_the_configured_target(capsys: pytest.CaptureFixture[str]) -> None:
    settings = sla_settings_from_mapping({"target_hours": 2}, "config.toml [sla]")
    assert run(["sla", "due", "--from", "2026-11-24T10:00:00+03:00"], settings) == 0
    assert capsys.readouterr().out == "2026-11-24T12:00:00+03:00\n"


def test_due_uses_the_settings_the_entry_point_passes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = SlaSettings(calendar=WorkingCalendar(lunch=(time(13), time(14))))
    argv = ["sla", "due", "--from", "2026-11-24T12:00:00+03:00", "--hours", "2"]
    assert run(argv, settings) == 0
    assert capsys.readouterr().out == "2026-11-24T15:00:00+03:00\n"


def test_due_accepts_a_decimal_comma(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["sla", "due", "--from", "2026-11-24T10:00:00+03:00", "--hours", "1,5"]) == 0
    assert capsys.readouterr().out == "2026-11-24T11:30:00+03:00\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "2026-11-20T17:59:00", "--hours", "8"], "нужен часовой пояс"),
        (["--from", "вчера", "--hours", "8"], "не дата и время ISO 8601"),
        (["--from", "2026-11-20T17:59:00+03:00", "--hours", "восемь"], "не число"),
        (["--from", "2026-11-20T17:59:00+03:00", "--hours", "-1"], "нужно число от 0"),
        (["--from", "2026-11-20T17:59:00+03:00", "--hours", "nan"], "нужно число от 0"),
    ],
)
def test_due_rejects_bad_input_with_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["sla", "due", *argv]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert message in out.err
    assert out.err.startswith("incident sla: ошибка:")


def test_missing_from_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run(["sla", "due", "--hours", "8"])
    assert info.value.code == 2
    assert "--from" in capsys.readouterr().err


def test_calendar_lists_days_off_moved_working_days_and_short_days(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["sla", "calendar", "--year", "2025"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    off = lines[lines.index("Нерабочие праздничные и перенесённые дни:") + 1 :]
    assert any(line.startswith("  2025-12-31 ср") for line in off)
    assert any(line.startswith("  2025-11-03 пн") for line in off)
    moved = lines[lines.index("Рабочие субботы и воскресенья (перенос):") + 1 :]
    assert moved[0].strip() == "2025-11-01 сб"
    short_header = next(line for line in lines if line.startswith("Сокращённые"))
    assert "на 1 ч" in short_header
    assert "  2025-04-30 ср" in lines
    assert lines[-1].startswith("Итого: рабочих дней 247, выходных и праздничных 118")
    assert "Внимание" not in out


def test_calendar_warns_about_a_year_without_a_decree(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["sla", "calendar", "--year", "2029"]) == 0
    out = capsys.readouterr().out
    assert "Внимание: постановления о переносе выходных на этот год в библиотеке нет" in out


def test_calendar_shows_configured_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    settings = sla_settings_from_mapping(
        {"extra_days_off": ["2026-12-30"], "extra_working_days": ["2026-12-26"]}, "config"
    )
    assert run(["sla", "calendar", "--year", "2026"], settings) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  2026-12-30 ср  extra_days_off" in lines
    assert "  2026-12-26 сб  extra_working_days" in lines


@pytest.mark.parametrize(("year", "message"), [("двадцать", "не год"), ("1800", "от 1992")])
def test_calendar_rejects_a_bad_year_with_exit_2(
    year: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["sla", "calendar", "--year", year]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert message in out.err
