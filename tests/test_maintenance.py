"""Keeping the data for years: online backups of SQLite, and retention that removes personal
data of old finished incidents while the statistics stay exactly as they were."""

from __future__ import annotations

import sqlite3
import stat
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from incident import db, inbox, migrate
from incident.backup import BackupError, backup_sqlite
from incident.db import make_engine
from incident.inbox.retention import REMOVED
from incident.models import Batch, ChangeKind, Comment, CommentChange, Platform
from incident.stats import Filters
from tests.test_cli import run
from tests.world import NOW, T0, World, add_incident


def test_a_backup_taken_while_the_worker_writes_is_complete_private_and_checked(
    tmp_path: Path,
) -> None:
    source = tmp_path / "incident.sqlite3"
    engine = make_engine(f"sqlite:///{source}")
    migrate.upgrade(engine)
    for n in range(50):
        add_incident(engine, T0, f"Жалоба {n}", external_id=str(n))
    stop = threading.Event()

    def keep_writing() -> None:
        n = 1000
        while not stop.is_set():
            add_incident(engine, T0, f"Пишется во время копии {n}", external_id=str(n))
            n += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        target = tmp_path / "backup.sqlite3"
        size = backup_sqlite(source, target)
    finally:
        stop.set()
        writer.join()
        engine.dispose()
    assert size == target.stat().st_size > 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with sqlite3.connect(target) as copy:
        stored = copy.execute("SELECT count(*) FROM incidents").fetchone()[0]
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert stored >= 50


def test_a_backup_never_overwrites_a_file_and_says_why(tmp_path: Path) -> None:
    source = tmp_path / "incident.sqlite3"
    migrate.upgrade(make_engine(f"sqlite:///{source}"))
    existing = tmp_path / "backup.sqlite3"
    existing.write_text("yesterday's backup", encoding="utf-8")
    with pytest.raises(BackupError, match="already exists"):
        backup_sqlite(source, existing)
    assert existing.read_text(encoding="utf-8") == "yesterday's backup"
    with pytest.raises(BackupError, match="no such database"):
        backup_sqlite(tmp_path / "missing.sqlite3", tmp_path / "new.sqlite3")
    assert not (tmp_path / "new.sqlite3").exists()


def test_incident_backup_on_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "sqlite:///incident.sqlite3"\n', encoding="utf-8")
    assert run("--config", str(config), "db", "upgrade")[0] == 0
    code, out, err = run("--config", str(config), "backup", "--out", str(tmp_path / "b.sqlite3"))
    assert code == 0, err
    assert "integrity ok" in out
    code, _, err = run("--config", str(config), "backup", "--out", str(tmp_path / "b.sqlite3"))
    assert (code, "already exists" in err) == (1, True)


def test_incident_backup_on_postgresql_points_to_pg_dump(tmp_path: Path, pg_database: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{pg_database}"\n', encoding="utf-8")
    code, _, err = run("--config", str(config), "backup", "--out", str(tmp_path / "b.dump"))
    assert code == 2
    assert "pg_dump" in err


# --- retention -----------------------------------------------------------------------------


def test_retention_removes_old_finished_incidents_personal_data_and_keeps_the_statistics(
    engine: Engine,
) -> None:
    world = World(engine)
    answered = world.incident(T0, topic="trade", answered_after=timedelta(hours=2))
    closed = world.incident(T0, topic="spam", closed=True)
    still_open = world.incident(T0, topic="housing")
    recent = world.incident(NOW - timedelta(days=3), answered_after=timedelta(hours=1))
    world.reply(answered, "answer")
    with engine.begin() as conn:
        inbox.add_note(conn, answered, "Звонила, телефон +7 900 000-00-00", "anna", T0)
        inbox.save_draft(conn, closed, "boris", "Иван Петров, Ленина 5, кв. 2", T0)
        inbox.save_draft(conn, still_open, "boris", "Черновик открытого", T0)
    before = world.compute(Filters.for_month(2026, 10))

    with engine.begin() as conn:
        removed = inbox.remove_personal_data(conn, NOW - timedelta(days=30), NOW)
        again = inbox.remove_personal_data(conn, NOW - timedelta(days=30), NOW)

    assert removed >= 2
    assert again == 0  # nothing more the second time
    assert world.compute(Filters.for_month(2026, 10)) == before  # statistics intact
    rows = comments_by_incident(engine)
    for gone in (answered, closed):
        assert rows[gone].text == REMOVED
        assert rows[gone].author_name is None
        assert (rows[gone].author_id, rows[gone].raw, rows[gone].edits) == ("", {}, [])
    assert rows[still_open].text == "Магазин не вернул деньги"  # open: kept whole
    assert rows[still_open].author_id == "1001"
    assert rows[recent].text == "Магазин не вернул деньги"  # younger than the cutoff
    with engine.connect() as conn:
        notes = conn.execute(select(db.notes.c.text)).scalars().all()
        replies = conn.execute(
            select(db.outbox.c.text).where(db.outbox.c.incident_id == answered)
        ).scalars()
        verdict = conn.execute(
            select(db.incidents.c.verdict).where(db.incidents.c.id == answered)
        ).scalar()
    assert notes == [REMOVED]
    assert all(text == REMOVED for text in replies)
    assert verdict is None
    with engine.connect() as conn:
        drafts = conn.execute(select(db.reply_drafts.c.text)).scalars().all()
    assert drafts == ["Черновик открытого"]  # an open incident's draft stays


def test_a_removed_comment_seen_again_by_a_full_sweep_is_not_brought_back(
    engine: Engine,
) -> None:
    world = World(engine)
    answered = world.incident(T0, answered_after=timedelta(hours=1))
    with engine.begin() as conn:
        inbox.remove_personal_data(conn, NOW, NOW)
    row: Any = comments_by_incident(engine)[answered]
    comment = Comment(
        platform=Platform.VK,
        community=row.community,
        post_id=row.post_id,
        external_id=row.external_id,
        author_id="1001",
        text="Магазин не вернул деньги",  # what the platform still shows
        created_at=T0,
    )
    seen_again = CommentChange(
        ChangeKind.EDIT, Platform.VK, row.community, row.external_id, row.post_id, comment
    )
    with engine.begin() as conn:
        result = inbox.ingest(
            conn, "vk-test", Batch((seen_again,)), NOW, deadline=inbox.calendar_hours(8)
        )
    assert (result.updated, result.duplicates) == (0, 1)
    assert comments_by_incident(engine)[answered].text == REMOVED


def comments_by_incident(engine: Engine) -> dict[int, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(db.incidents.c.id.label("incident_id"), db.comments).join(
                db.comments, db.comments.c.id == db.incidents.c.comment_id
            )
        ).all()
    return {r.incident_id: r for r in rows}


def test_incident_retention_needs_a_setting_or_months(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "sqlite:///incident.sqlite3"\n', encoding="utf-8")
    assert run("--config", str(config), "db", "upgrade")[0] == 0
    code, _, err = run("--config", str(config), "retention")
    assert code == 2
    assert "personal_data_months" in err
    config.write_text(
        '[database]\nurl = "sqlite:///incident.sqlite3"\n\n'
        "[retention]\npersonal_data_months = 36\n",
        encoding="utf-8",
    )
    code, out, err = run("--config", str(config), "retention")
    assert code == 0, err
    assert "removed the personal data of 0 comments" in out
