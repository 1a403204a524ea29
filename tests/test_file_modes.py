"""What incident writes is for its user only, under the usual umask 022: the SQLite database
with its WAL and shared-memory files, exports and reports, the demo's tokens (0600), and the
folders it creates for them (0700)."""

from __future__ import annotations

import argparse
import os
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from incident import migrate
from incident.commands import report as report_command
from incident.db import make_engine
from incident.files import private_dirs, private_file
from incident.sources.fakes.demo_source import (
    demo_ok_table,
    demo_source_table,
    demo_telegram_table,
)
from tests.world import World

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """The default umask of most systems: files 0644, folders 0755 unless made private."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ----- the SQLite database ----------------------------------------------------------------


def test_a_new_sqlite_database_and_its_wal_and_shm_files_are_0600(tmp_path: Path) -> None:
    path = tmp_path / "incident.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:  # the pooled connection keeps the WAL files open
            conn.execute(text("CREATE TABLE probe (x INTEGER)"))
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        assert wal.exists()
        assert shm.exists()
        assert (mode(path), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
    finally:
        engine.dispose()


def test_an_existing_database_readable_by_others_is_made_0600_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "incident.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if not name.exists():
            name.write_bytes(b"")
        os.chmod(name, 0o644)  # as an older version left them
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert migrate.current_revision(engine) is not None
            conn.execute(text("SELECT 1"))
        assert mode(path) == 0o600
        assert mode(Path(f"{path}-wal")) == 0o600
        assert mode(Path(f"{path}-shm")) == 0o600
    finally:
        engine.dispose()


def test_a_database_in_a_missing_folder_still_fails_as_sqlite_says(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'incident.sqlite3'}")
    try:
        with pytest.raises(Exception, match="unable to open database file"):
            engine.connect().close()
    finally:
        engine.dispose()


# ----- exports and reports ----------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('[database]\nurl = "sqlite:///incident.sqlite3"\n', encoding="utf-8")
    engine = make_engine(f"sqlite:///{tmp_path / 'incident.sqlite3'}")
    migrate.upgrade(engine)
    World(engine).incident(T0, answered_after=timedelta(hours=1))
    engine.dispose()
    return path


def run(config: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    sub = parser.add_subparsers(dest="command", required=True)
    report_command.register(sub)
    args = parser.parse_args(["--config", str(config), *argv])
    code: int = args.handler(args)
    return code


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_file_is_0600(config: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"export.{fmt}"
    days = ("--from", "2026-10-01", "--to", "2026-10-31")
    assert run(config, "export", *days, "--format", fmt, "--out", str(out)) == 0
    assert out.stat().st_size > 0
    assert mode(out) == 0o600


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "html"])
def test_a_report_file_is_0600_also_when_it_replaces_one_readable_by_others(
    config: Path, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"report.{fmt}"
    out.write_text("old", encoding="utf-8")
    os.chmod(out, 0o644)
    assert run(config, "report", "--month", "2026-10", "--format", fmt, "--out", str(out)) == 0
    assert out.read_bytes() != b"old"
    assert mode(out) == 0o600


def test_the_report_under_its_default_name_is_0600(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(config, "report", "--month", "2026-10") == 0
    assert mode(tmp_path / "report-2026-10.xlsx") == 0o600


# ----- the demo's tokens ------------------------------------------------------------------


def test_the_demo_writes_its_tokens_0600_in_a_0700_folder(tmp_path: Path) -> None:
    folder = tmp_path / "demo-data"
    folder.mkdir()
    demo_source_table(folder, "http://127.0.0.1:1/")
    demo_ok_table(folder, "http://127.0.0.1:2/")
    demo_telegram_table(folder)
    secrets = folder / "secrets"
    files = sorted(secrets.iterdir())
    assert len(files) >= 6  # VK: 2 tokens, OK: 2 secrets, Telegram: api id and hash
    assert mode(secrets) == 0o700
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_a_secrets_folder_left_open_by_an_older_demo_is_closed(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o755)
    (secrets / "vk-community-token").write_text("old\n", encoding="utf-8")
    os.chmod(secrets / "vk-community-token", 0o644)
    demo_source_table(tmp_path, "http://127.0.0.1:1/")
    assert mode(secrets) == 0o700
    assert mode(secrets / "vk-community-token") == 0o600


# ----- the helpers ------------------------------------------------------------------------


def test_private_folders_and_files_whatever_the_umask(tmp_path: Path) -> None:
    os.umask(0o277)  # would leave the owner unable to write
    folder = private_dirs(tmp_path / "a" / "b")
    made = private_file(folder / "f")
    os.umask(0o022)
    assert (mode(tmp_path / "a"), mode(folder), mode(made)) == (0o700, 0o700, 0o600)


def test_a_fifo_or_another_special_file_is_never_opened_or_changed(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o644)
    private_file(fifo)  # opening a fifo for writing would wait for a reader forever
    assert mode(fifo) == 0o644
