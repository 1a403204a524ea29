"""``classify``, ``suggest`` and ``rules check`` through a real argparse parser."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from incident.commands import classify as commands

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules")
REPLIES = str(ROOT / "replies")


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="incident")
    sub = parser.add_subparsers(dest="command", required=True)
    commands.register(sub)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


def test_classify_prints_the_topic_and_the_matched_phrase(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run(["classify", "--rules", RULES, "Билайн опять без интернета"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Тема: telecom" in out
    assert "«Билайн» [0:6] → telecom" in out


def test_classify_json_prints_one_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["classify", "--rules", RULES, "--json", "Сбербанк заблокировал карту"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    assert payload["topic"] == "finance"


def test_classify_history_detects_flood(capsys: pytest.CaptureFixture[str]) -> None:
    text = "Верните деньги за тариф"
    code = run(["classify", "--rules", RULES, "--json", "--history", text, text])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    assert "flood" in payload["flags"]


def test_classify_jsonl_writes_one_verdict_per_line_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = [
        "В поликлинике нет талонов к терапевту",
        "МТС списал деньги",
        "Яма на дороге",
        "В кафе принесли холодный суп",
    ]
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in texts) + "\n",
        encoding="utf-8",
    )
    code = run(["classify", "--rules", RULES, "--jsonl", str(source)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [json.loads(line)["topic"] for line in lines] == ["medical", "telecom", "other", "food"]


def test_classify_jsonl_keeps_order_and_reports_bad_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "Билайн"}\nне json\n{"id": 3}\n{"text": "Сбербанк"}\n', "utf-8")
    code = run(["classify", "--rules", RULES, "--jsonl", str(source)])
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 1
    assert [r["topic"] for r in rows] == ["telecom", "unclassified", "unclassified", "finance"]
    assert "error" in rows[1]
    assert "строка 2" in captured.err


# The rules find no phrase of theirs in it; their own model, trained on their examples, does.
RUDE_DOCTOR = "Врачиха нахамила"


def test_classify_fills_what_the_rules_leave_with_the_rules_own_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["classify", "--rules", RULES, "--json", "--no-model", RUDE_DOCTOR]) == 0
    assert json.loads(capsys.readouterr().out)["topic"] == "unclassified"
    assert run(["classify", "--rules", RULES, "--json", RUDE_DOCTOR]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["topic"] == "medical"
    assert verdict["model"]["changed"] == "filled"
    assert verdict["model"]["rules_topic"] == "unclassified"
    assert verdict["model"]["words"][0]["word"] == "Врачиха"  # the word that pushed it most
    assert run(["classify", "--rules", RULES, RUDE_DOCTOR]) == 0
    out = capsys.readouterr().out
    assert "Модель правил (обучена на их примерах): Медицина" in out
    assert "её назвала модель" in out


def test_the_rules_own_model_is_remembered_and_a_damaged_copy_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert run(["classify", "--rules", RULES, "--json", RUDE_DOCTOR]) == 0
    first = json.loads(capsys.readouterr().out)
    [remembered] = (tmp_path / "incident").glob("rules-model-*.json")
    assert remembered.stat().st_size > 0
    assert run(["classify", "--rules", RULES, "--json", RUDE_DOCTOR]) == 0
    assert json.loads(capsys.readouterr().out) == first  # read back: the very same verdict
    remembered.write_text('{"format": 1, "topics": [', encoding="utf-8")
    assert run(["classify", "--rules", RULES, "--json", RUDE_DOCTOR]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert json.loads(remembered.read_text(encoding="utf-8"))["format"] == 1
    assert [p.name for p in (tmp_path / "incident").iterdir()] == [remembered.name]


def test_classify_works_when_the_model_cannot_be_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert run(["classify", "--rules", RULES, "--json", RUDE_DOCTOR]) == 0
    assert json.loads(capsys.readouterr().out)["topic"] == "medical"


def test_classify_takes_either_a_model_file_or_no_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        run(["classify", "--model", str(tmp_path / "m.json"), "--no-model", "текст"])
    assert "--no-model" in capsys.readouterr().err


def test_classify_needs_exactly_one_of_text_and_jsonl(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["classify", "--rules", RULES]) == 2
    assert run(["classify", "--rules", RULES, "--jsonl", "x.jsonl", "текст"]) == 2
    assert "Укажите текст" in capsys.readouterr().err


def test_classify_reports_rule_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "rules"
    shutil.copytree(RULES, broken)
    (broken / "food.toml").write_text('id = "food"\n', encoding="utf-8")
    assert run(["classify", "--rules", str(broken), "суп"]) == 1
    assert "food.toml: title" in capsys.readouterr().err


def test_suggest_shows_ranked_drafts(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        [
            "suggest",
            "--rules",
            RULES,
            "--replies",
            REPLIES,
            "--author-name",
            "Ирина",
            "--private-link",
            "https://vk.me/club1",
            "Второй день нет горячей воды, управляющая компания молчит",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Тема: housing" in out
    assert "1. housing-answer (answer)" in out
    assert "Ирина, здравствуйте!" in out
    assert "https://vk.me/club1" in out


def test_suggest_json_lists_drafts(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["suggest", "--rules", RULES, "--replies", REPLIES, "--json", "Яма на дороге"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    assert payload["verdict"]["topic"] == "other"
    assert payload["drafts"][0]["reply_id"] == "redirect-roads"


def test_rules_check_passes_on_the_shipped_files(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["rules", "check", "--rules", RULES, "--replies", REPLIES])
    out = capsys.readouterr().out
    assert code == 0
    assert "Всё в порядке." in out


def test_rules_check_fails_on_an_example_that_misses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    food = (rules / "food.toml").read_text(encoding="utf-8")
    example = "Сломался лифт в подъезде"
    food = food.replace("examples = [", f'examples = [\n  "{example}",', 1)
    (rules / "food.toml").write_text(food, encoding="utf-8")
    code = run(["rules", "check", "--rules", str(rules), "--replies", REPLIES])
    captured = capsys.readouterr()
    assert code == 1
    assert f"пример должен быть food, а получилось housing: «{example}»" in captured.err
    assert "не прошли: 1" in captured.out


def test_rules_check_fails_on_bureaucratic_reply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replies = tmp_path / "replies"
    shutil.copytree(REPLIES, replies)
    (replies / "extra.toml").write_text(
        '[[reply]]\nid = "stiff"\ntopics = ["trade"]\nkind = "answer"\n'
        'text = "Уведомляем, что данный вопрос рассмотрен."\n',
        encoding="utf-8",
    )
    code = run(["rules", "check", "--rules", RULES, "--replies", str(replies)])
    err = capsys.readouterr().err
    assert code == 1
    assert "extra.toml: stiff: канцелярит: «уведомляем»" in err


def test_classify_jsonl_reads_stdin_in_a_separate_process() -> None:
    script = (
        "import argparse, sys\n"
        "from incident.commands import classify\n"
        "p = argparse.ArgumentParser()\n"
        "classify.register(p.add_subparsers(dest='c', required=True))\n"
        "a = p.parse_args(sys.argv[1:])\n"
        "sys.exit(a.handler(a))\n"
    )
    lines = "\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in ["Теле2", "Мегафон"])
    result = subprocess.run(
        [sys.executable, "-c", script, "classify", "--rules", RULES, "--jsonl", "-"],
        input=lines,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(x)["topic"] for x in result.stdout.splitlines()] == ["telecom", "telecom"]


def test_only_the_newest_rules_models_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every edit of the rules makes another model: the cache does not grow without end."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = tmp_path / "incident"
    folder.mkdir()
    for n in range(5):
        old = folder / f"rules-model-old{n}.json"
        old.write_text("{}", encoding="utf-8")
        os.utime(old, (1_000_000 + n, 1_000_000 + n))
    (folder / "notes.txt").write_text("not ours", encoding="utf-8")
    assert run(["classify", "--rules", RULES, "--json", RUDE_DOCTOR]) == 0
    capsys.readouterr()
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 4
    assert "rules-model-old4.json" in names
    assert "rules-model-old3.json" in names
    assert "notes.txt" in names


def test_suggest_drafts_for_the_topic_classify_gives(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["suggest", "--rules", RULES, "--replies", REPLIES, RUDE_DOCTOR])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("Тема: medical")
    assert "medical-answer" in out


@pytest.mark.parametrize(
    "environment",
    [{"XDG_CACHE_HOME": "relative/cache", "HOME": ""}, {"XDG_CACHE_HOME": "", "HOME": ""}],
)
def test_without_an_absolute_cache_folder_nothing_is_remembered_and_nothing_breaks(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environment: dict[str, str],
) -> None:
    """A service started without a home: no folder is made in the working directory."""
    monkeypatch.chdir(tmp_path)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert run(["classify", "--rules", RULES, "--json", RUDE_DOCTOR]) == 0
    assert json.loads(capsys.readouterr().out)["topic"] == "medical"
    assert list(tmp_path.iterdir()) == []


def test_rules_of_one_topic_classify_alone_and_say_why_in_russian(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "_flags.toml").write_text("[classifier]\nthreshold = 1.0\n", encoding="utf-8")
    (rules / "telecom.toml").write_text(
        'id = "telecom"\ntitle = "Связь"\nin_competence = true\nexamples = ["МТС"]\n'
        '[phrases]\n"мтс" = 3\n',
        encoding="utf-8",
    )
    assert run(["classify", "--rules", str(rules), "--json", "МТС опять без связи"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["topic"] == "telecom"
    assert "Модель правил не обучена: ей нужны примеры или фразы хотя бы двух тем" in captured.err
