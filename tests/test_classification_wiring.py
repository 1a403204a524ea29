"""Every stored comment gets a verdict on ingest; a rules change reclassifies open incidents."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from incident import db, inbox
from incident.inbox import calendar_hours
from incident.models import Batch, ChangeKind, Comment, CommentChange, Platform
from incident.rules import load_ruleset
from incident.wiring import rule_classifier

RULES = Path(__file__).resolve().parents[1] / "rules"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def store(engine: Engine, ruleset_dir: Path, *texts: str) -> None:
    ruleset = load_ruleset(ruleset_dir)
    changes = []
    for i, text in enumerate(texts, start=1):
        c = Comment(Platform.VK, "42", "7", str(i), f"{1000 + i}", text, T0)
        changes.append(CommentChange(ChangeKind.NEW, c.platform, "42", c.external_id, "7", c))
    with engine.begin() as conn:
        inbox.ingest(
            conn,
            "vk-test",
            Batch(tuple(changes)),
            T0,
            deadline=calendar_hours(8),
            classify=rule_classifier(ruleset),
        )


def topics(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(db.comments.c.external_id, db.incidents.c.topic).join(
                db.incidents, db.incidents.c.comment_id == db.comments.c.id
            )
        )
        return {r.external_id: r.topic for r in rows}


def test_the_verdict_and_its_explanation_are_stored_with_the_incident(engine: Engine) -> None:
    store(engine, RULES, "Управляющая компания третью неделю не даёт горячую воду")
    with engine.connect() as conn:
        row = conn.execute(select(db.incidents)).one()
    assert row.topic == "housing"
    assert row.ruleset_version == load_ruleset(RULES).version
    matched = [m["phrase"] for m in row.verdict["matches"]]
    assert any("управляющ" in p for p in matched)


def test_reclassify_after_adding_a_phrase_changes_only_what_the_phrase_touches(
    engine: Engine, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    store(engine, rules, "В лаундже на углу грязно", "Банк навязал страховку при кредите")
    before = topics(engine)
    assert before["1"] == "unclassified"
    assert before["2"] == "finance"
    food = rules / "food.toml"
    food.write_text(
        food.read_text(encoding="utf-8").replace(
            "\n[phrases]\n", '\n[phrases]\n"лаундж" = 3.5\n', 1
        ),
        encoding="utf-8",
    )
    updated = load_ruleset(rules)
    with engine.begin() as conn:
        checked, changed = inbox.reclassify_open(
            conn, rule_classifier(updated), updated.version, T0, deadline=calendar_hours(8)
        )
    assert (checked, changed) == (2, 1)
    assert topics(engine) == {"1": "food", "2": "finance"}
    with engine.begin() as conn:  # nothing left under the old rules: a second run is a no-op
        assert inbox.reclassify_open(
            conn, rule_classifier(updated), updated.version, T0, deadline=calendar_hours(8)
        ) == (0, 0)
