"""The shipped systemd units: valid for systemd, and hardened (a low exposure score).

``systemd-analyze verify`` checks every directive and that the commands exist, so the units are
checked with ``/opt/incident`` (the README's install folder) replaced by this checkout."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[1]
UNITS = sorted((ROOT / "systemd").glob("*.service"))
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 (locked down) .. 10 (exposed)


@pytest.fixture(scope="module")
def analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if IN_CI:
            pytest.fail("systemd-analyze is required in CI")
        pytest.skip("systemd-analyze not installed")
    if not (Path(sys.prefix) / "bin" / "incident").exists():
        pytest.skip("the incident command is not installed in this environment")
    return tool


def installed_here(unit: Path, tmp_path: Path) -> Path:
    """The unit with its install folder pointing at this checkout's environment."""
    text = unit.read_text(encoding="utf-8")
    here = str(Path(sys.prefix).parent)  # .venv's parent: where `make install` put it
    copy = tmp_path / unit.name
    copy.write_text(text.replace("/opt/incident", here), encoding="utf-8")
    return copy


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_the_unit_is_valid_for_systemd(analyze: str, unit: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [analyze, "verify", str(installed_here(unit, tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_the_unit_is_hardened(analyze: str, unit: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [analyze, "security", "--offline=yes", str(installed_here(unit, tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout
    text = unit.read_text(encoding="utf-8")
    for directive in (
        "User=incident",
        "UMask=0077",
        "NoNewPrivileges=true",
        "ProtectSystem=strict",
        "PrivateTmp=true",
        "Restart=on-failure",
        "ExecStartPre=/opt/incident/.venv/bin/incident check-config",
        "LoadCredential=",
    ):
        assert directive in text, directive
