"""The classifier's hot path compiled by mypyc (setup.py): used as installed, giving the very
verdicts the plain-Python modules give, and never used in place of a source edited since."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import incident
import incident.classify
import incident.learned
import incident.text
from incident.rules import load_ruleset
from incident.training import correction_samples, fit, rule_samples

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
GROUP = "incident_native__mypyc"


def test_the_installed_package_runs_its_compiled_hot_path() -> None:
    """`make install` compiles it; a machine without a C compiler would run plain Python, and
    this says so (INCIDENT_PURE_PYTHON=1 asks for plain Python on purpose)."""
    assert incident.NATIVE
    for module in (incident.text, incident.classify, incident.learned):
        assert module.__file__ is not None
        assert module.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def _classify_lines(lines: Path, model: Path, *, pure: bool) -> bytes:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(lines.parent)}
    if pure:
        env["INCIDENT_PURE_PYTHON"] = "1"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "incident", "classify", "--rules", str(ROOT / "rules")),
            *("--model", str(model), "--jsonl", str(lines)),
        ],
        capture_output=True,
        env=env,
        cwd=lines.parent,
        timeout=120,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: the bad lines below, reported
    return done.stdout


def test_compiled_and_plain_modules_give_the_same_verdicts_byte_for_byte(tmp_path: Path) -> None:
    texts = [
        json.loads(line)["text"]
        for name in ("frozen.jsonl", "holdout.jsonl", "tuning.jsonl", "corrections.jsonl")
        for line in (DATA / name).read_text(encoding="utf-8").splitlines()
    ]
    texts += [
        "",
        "😡" * 500,
        "ааааааааааааааааааааааааааааааааааааааааааа " * 300,
        "Хxх мaгaзин 3вони 8-900-000-00-00 от 1500 руб @ivan #скидка http://a.example",
        "[id1|Анна], вы правы\u0000\u202e",
    ]
    lines = tmp_path / "lines.jsonl"
    lines.write_text(
        "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts)
        + '{"text": "\\ud800 одинокий суррогат"}\nне json\n',
        encoding="utf-8",
    )
    ruleset = load_ruleset(ROOT / "rules")
    pool = [(t, "services") for t in texts[:40]]
    model = fit(rule_samples(ruleset) + correction_samples(pool), ruleset, corrections=len(pool))
    model_file = tmp_path / "model.json"
    model_file.write_text(json.dumps(model.to_data(), ensure_ascii=False), encoding="utf-8")
    compiled = _classify_lines(lines, model_file, pure=False)
    plain = _classify_lines(lines, model_file, pure=True)
    assert compiled.count(b"\n") == len(texts) + 2
    assert compiled == plain


def _copy_of_the_package(tmp_path: Path) -> Path:
    """The installed package, compiled modules and their shared library included, elsewhere."""
    found = importlib.util.find_spec(GROUP)
    assert found is not None
    assert found.origin is not None
    root = tmp_path / "site"
    shutil.copytree(ROOT / "incident", root / "incident")
    shutil.copy2(found.origin, root)
    return root


def _which_modules(root: Path) -> list[str]:
    code = (
        "import incident, incident.classify as c, incident.text as t, incident.learned as l\n"
        "print(incident.NATIVE, c.__file__.endswith('.py'), t.__file__.endswith('.py'),"
        f" l.__file__.endswith('.py'), c.__file__.startswith({str(root)!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
        cwd=root,
        timeout=60,
        check=True,
    )
    return done.stdout.split()


def test_the_copy_of_the_package_runs_compiled_while_its_sources_are_unchanged(
    tmp_path: Path,
) -> None:
    root = _copy_of_the_package(tmp_path)
    assert _which_modules(root) == ["True", "False", "False", "False", "True"]


@pytest.mark.parametrize("change", ["edited source", "no record", "damaged record"])
def test_a_source_changed_since_the_build_runs_as_plain_python_with_the_other_two(
    tmp_path: Path, change: str
) -> None:
    root = _copy_of_the_package(tmp_path)
    if change == "edited source":
        source = root / "incident" / "classify.py"
        source.write_text(source.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    elif change == "no record":
        (root / "incident" / "_native.json").unlink()
    else:
        (root / "incident" / "_native.json").write_text("[1, 2", encoding="utf-8")
    # all three go together: compiled modules call each other directly
    assert _which_modules(root) == ["False", "True", "True", "True", "True"]
