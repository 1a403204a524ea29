"""The learned model's versions in the database (incident.training, migration 0012) and the
`incident model` commands: trained on staff corrections, shared by every process through the
active row, rolled back and forward again without losing a version."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from incident import db, inbox, training
from incident.cli import main
from incident.inbox import calendar_hours
from incident.models import UNCLASSIFIED, Batch, ChangeKind, Comment, CommentChange, Platform
from incident.rules import RuleSet
from incident.wiring import build_train_step, load_config, rule_classifier
from tests.learnedworld import SOFA, SOFA_NEW, small_rules

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def store(engine: Engine, rules: RuleSet, model: training.ActiveModel, *texts: str) -> list[int]:
    """Ingest ``texts`` as new VK comments the way the worker does; their incidents' ids."""
    with engine.connect() as conn:
        first = len(conn.execute(select(db.comments.c.id)).all()) + 1
    changes = []
    for i, text in enumerate(texts, start=first):
        c = Comment(Platform.VK, "42", "7", str(i), f"{1000 + i}", text, T0)
        changes.append(CommentChange(ChangeKind.NEW, c.platform, "42", c.external_id, "7", c))
    with engine.begin() as conn:
        inbox.ingest(
            conn,
            "vk-test",
            Batch(tuple(changes)),
            T0,
            deadline=calendar_hours(8),
            classify=rule_classifier(rules, model),
        )
        rows = conn.execute(
            select(db.incidents.c.id)
            .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
            .where(db.comments.c.external_id.in_([c.external_id for c in changes]))
            .order_by(db.incidents.c.id)
        ).all()
    return [r.id for r in rows]


def topic_of(engine: Engine, incident_id: int) -> tuple[str | None, dict[str, object] | None]:
    with engine.connect() as conn:
        row = conn.execute(
            select(db.incidents.c.topic, db.incidents.c.verdict).where(
                db.incidents.c.id == incident_id
            )
        ).one()
    return row.topic, row.verdict


@pytest.fixture
def rules(tmp_path: Path) -> RuleSet:
    return small_rules(tmp_path / "rules")


def test_a_correction_changes_the_next_similar_comments_topic_after_retraining(
    engine: Engine, rules: RuleSet
) -> None:
    active = training.ActiveModel(engine)
    assert not active.refresh()  # no model yet: the rules alone
    corrected = store(engine, rules, active, *SOFA)
    assert all(topic_of(engine, i)[0] == UNCLASSIFIED for i in corrected)
    first = training.train_once(engine, rules, T0)
    assert first is not None
    assert first.model.version == 1
    assert first.model.corrections == 0
    with engine.begin() as conn:
        for i in corrected:
            inbox.change_topic(conn, i, "services", "anna", T0)
    second = training.train_once(engine, rules, T0 + timedelta(hours=1))
    assert second is not None
    assert (second.model.version, second.model.corrections) == (2, len(SOFA))
    assert second.model.ruleset_version == rules.version

    assert active() is None  # what a process holds changes only when it refreshes
    assert active.refresh()
    [new] = store(engine, rules, active, SOFA_NEW)
    topic, verdict = topic_of(engine, new)
    assert topic == "services"
    assert verdict is not None
    assert verdict["model"]["version"] == 2
    assert verdict["model"]["changed"] == "filled"

    with engine.begin() as conn:  # a rollback, and the rollback undone
        assert training.activate(conn, 1)
        assert [(r.version, r.active) for r in training.list_models(conn)] == [
            (2, False),
            (1, True),
        ]
        assert training.activate(conn, 2)
        assert training.active_version(conn) == 2
        assert not training.activate(conn, 7)
        assert training.active_version(conn) == 2


def test_scheduled_training_does_nothing_until_corrections_or_rules_change(
    engine: Engine, rules: RuleSet
) -> None:
    active = training.ActiveModel(engine)
    [incident_id] = store(engine, rules, active, SOFA[0])
    assert training.train_once(engine, rules, T0, if_changed=True) is not None
    assert training.train_once(engine, rules, T0, if_changed=True) is None
    with engine.begin() as conn:
        inbox.change_topic(conn, incident_id, "services", "anna", T0)
    done = training.train_once(engine, rules, T0, if_changed=True)
    assert done is not None
    assert done.model.version == 2
    assert training.train_once(engine, rules, T0, if_changed=True) is None


def test_switching_the_model_off_leaves_the_rules_alone(engine: Engine, rules: RuleSet) -> None:
    active = training.ActiveModel(engine)
    training.train_once(engine, rules, T0)
    with engine.begin() as conn:
        training.activate(conn, None)
    active.refresh()
    assert active() is None
    [new] = store(engine, rules, active, SOFA_NEW)
    topic, verdict = topic_of(engine, new)
    assert topic == UNCLASSIFIED
    assert verdict is not None
    assert "model" not in verdict


def test_the_model_commands_train_list_roll_back_and_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small_rules(tmp_path / "rules")
    (tmp_path / "replies").mkdir()
    config = tmp_path / "config.toml"
    config.write_text(
        '[database]\nurl = "sqlite:///db.sqlite3"\n[paths]\nrules = "rules"\nreplies = "replies"\n',
        encoding="utf-8",
    )
    at = ["--config", str(config)]
    assert main([*at, "db", "upgrade"]) == 0
    assert main([*at, "model", "list"]) == 0
    assert "Моделей ещё нет" in capsys.readouterr().out
    assert main([*at, "model", "rollback"]) == 1
    assert "Более ранней версии нет" in capsys.readouterr().err
    assert main([*at, "model", "train"]) == 0
    assert "Модель версии 1 обучена" in capsys.readouterr().out
    assert main([*at, "model", "train", "--if-changed"]) == 0
    assert "не обучалась" in capsys.readouterr().out
    assert main([*at, "model", "train"]) == 0
    capsys.readouterr()
    assert main([*at, "model", "rollback"]) == 0
    assert "версии 1" in capsys.readouterr().out
    assert main([*at, "model", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[1].split()[0] == "2"
    assert "действует" not in listing[1]
    assert listing[2].split()[0] == "1"
    assert listing[2].endswith("действует")
    assert main([*at, "model", "rollback", "2"]) == 0
    assert main([*at, "model", "rollback", "9"]) == 1
    assert "Версии 9 нет" in capsys.readouterr().err
    exported = tmp_path / "model.json"
    assert main([*at, "model", "export", "--out", str(exported)]) == 0
    assert exported.stat().st_mode & 0o077 == 0  # pieces of citizens' words: owner only
    capsys.readouterr()
    assert (
        main(
            [
                "classify",
                "--rules",
                str(tmp_path / "rules"),
                "--model",
                str(exported),
                "--json",
                SOFA_NEW,
            ]
        )
        == 0
    )
    assert '"model": {"version": 2' in capsys.readouterr().out
    assert main([*at, "model", "rollback", "--off"]) == 0
    assert "Модель отключена" in capsys.readouterr().out


def test_the_worker_and_the_web_app_never_load_the_training_libraries() -> None:
    """The model is scored from plain data; numpy and scikit-learn stay out of their memory
    (openpyxl would import numpy too, so it is imported only when a workbook is written). The
    worker's repeat step alone loads numpy (9 MB), when it first runs: rapidfuzz's search of a
    whole batch, which runs without the GIL, hands back its scores as a numpy matrix."""
    code = (
        "import sys, incident.cli, incident.commands.worker, incident.web.app, incident.daemon\n"
        "print(sorted(m for m in ('numpy', 'scipy', 'sklearn', 'openpyxl') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_the_workers_scheduled_training_runs_the_command_bounded_and_only_when_needed(
    tmp_path: Path,
) -> None:
    small_rules(tmp_path / "rules")
    (tmp_path / "replies").mkdir()
    path = tmp_path / "config.toml"
    path.write_text(
        '[database]\nurl = "sqlite:///db.sqlite3"\n[paths]\nrules = "rules"\n'
        'replies = "replies"\n[model]\ntrain_interval_hours = 24\n'
        "train_timeout_seconds = 120\ntrain_memory_mb = 2048\n",
        encoding="utf-8",
    )
    assert main(["--config", str(path), "db", "upgrade"]) == 0
    step = build_train_step(load_config(path, environ={}, require_secrets=False), path)
    assert "Модель версии 1 обучена" in step()
    assert "не обучалась" in step()  # nothing new since: the night passes without training
    starved = build_train_step(
        load_config(path, environ={}, require_secrets=False), path, memory_mb=64
    )
    with pytest.raises(RuntimeError):
        starved()  # a training that needs more memory than allowed fails, and says so
