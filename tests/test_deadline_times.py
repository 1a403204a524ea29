"""The warning time is stored with the deadline: ingest writes it, the SLA step reads it (and
fills it in once for rows stored before it existed), reclassification recomputes both; and a
reply, whoever queues it, leaves exactly one audit event.

Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, update
from starlette.testclient import TestClient

from incident import db, inbox, sla
from incident.alerts import warn_breaches_once
from incident.cli import main
from incident.inbox import Classification
from incident.models import Batch, ChangeKind, Comment, CommentChange, Platform
from incident.users import Role
from incident.wiring import working_hours_policy
from tests.conftest import FakeClock
from tests.world import add_incident, add_user, login, make_app, post_form

MSK = ZoneInfo("Europe/Moscow")
# Thursday 1 October 2026, 10:00 Moscow time: under the defaults due at 18:00, warned at 16:00.
T0 = datetime(2026, 10, 1, 10, 0, tzinfo=MSK)
SEEN = T0 + timedelta(minutes=5)
SLOW_ROADS = sla.SlaSettings(
    rules=(sla.PolicyRule("roads", None, sla.SlaPolicy(target_hours=16, cap_hours=None)),)
)


def comment(cid: int = 1) -> Comment:
    return Comment(Platform.VK, "42", "7", str(cid), "1001", "Яма на дороге у магазина", T0)


def topic_is(topic: str, version: str = "r1") -> inbox.Classifier:
    def classify(c: Comment, history: Any) -> Classification:
        return Classification(topic, {"topic": topic}, version)

    return classify


def store(engine: Engine, settings: sla.SlaSettings, topic: str = "trade") -> int:
    c = comment()
    change = CommentChange(ChangeKind.NEW, c.platform, c.community, c.external_id, c.post_id, c)
    with engine.begin() as conn:
        inbox.ingest(
            conn,
            "vk-test",
            Batch((change,)),
            SEEN,
            deadline=working_hours_policy(settings),
            classify=topic_is(topic),
        )
        incident_id: int = conn.execute(select(db.incidents.c.id)).scalar_one()
    return incident_id


def row(engine: Engine, incident_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(db.incidents).where(db.incidents.c.id == incident_id)).one()


def set_columns(engine: Engine, incident_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(db.incidents).where(db.incidents.c.id == incident_id).values(**values))


def test_ingest_stores_the_warning_time_that_sla_deadline_gives(engine: Engine) -> None:
    settings = sla.SlaSettings()
    incident_id = store(engine, settings)
    expected = sla.deadline(T0, SEEN, "trade", "vk", settings)
    stored = row(engine, incident_id)
    assert stored.due_at == expected.due
    assert stored.warn_at == expected.warn
    assert stored.warn_at == T0 + timedelta(hours=6)  # 16:00: 6 of 8 working hours


def test_the_warning_comes_at_the_stored_time_not_a_recomputed_one(engine: Engine) -> None:
    settings = sla.SlaSettings()
    incident_id = store(engine, settings)
    stored_warn = T0 + timedelta(hours=7)  # differs from what sla.deadline gives (16:00)
    set_columns(engine, incident_id, warn_at=stored_warn)
    recomputed = T0 + timedelta(hours=6)
    assert warn_breaches_once(engine, settings, [], recomputed) == 0
    assert row(engine, incident_id).warned_at is None
    assert warn_breaches_once(engine, settings, [], stored_warn) == 1
    assert row(engine, incident_id).warned_at == stored_warn


def test_a_row_without_a_warning_time_gets_it_computed_once(engine: Engine) -> None:
    settings = sla.SlaSettings()
    incident_id = store(engine, settings)
    set_columns(engine, incident_id, warn_at=None)  # stored before migration 0006
    early = T0 + timedelta(hours=1)
    assert warn_breaches_once(engine, settings, [], early) == 0
    filled = row(engine, incident_id).warn_at
    assert filled == sla.deadline(T0, None, "trade", "vk", settings).warn
    # settings that would warn much earlier no longer matter: the stored time is used
    eager = sla.SlaSettings(warn_at=0.25)
    assert warn_breaches_once(engine, eager, [], T0 + timedelta(hours=3)) == 0
    assert row(engine, incident_id).warn_at == filled
    assert warn_breaches_once(engine, eager, [], filled) == 1


def test_reclassify_recomputes_the_deadline_when_the_new_topic_has_another_policy(
    engine: Engine,
) -> None:
    incident_id = store(engine, SLOW_ROADS, topic="trade")
    warned = T0 + timedelta(hours=6, minutes=30)
    breached = T0 + timedelta(hours=8, minutes=1)  # late under the 8-hour default
    set_columns(engine, incident_id, warned_at=warned, breach_notified_at=breached)
    with engine.begin() as conn:
        result = inbox.reclassify_open(
            conn, topic_is("roads", "r2"), "r2", warned, deadline=working_hours_policy(SLOW_ROADS)
        )
    assert result == (1, 1)
    roads = sla.deadline(T0, SEEN, "roads", "vk", SLOW_ROADS)
    stored = row(engine, incident_id)
    assert (stored.topic, stored.due_at, stored.warn_at) == ("roads", roads.due, roads.warn)
    assert stored.due_at == datetime(2026, 10, 2, 17, 0, tzinfo=MSK)  # 8 h Thursday, 8 Friday
    assert stored.warn_at == datetime(2026, 10, 2, 13, 0, tzinfo=MSK)  # 12 of the 16 hours
    assert stored.opened_at == T0
    # warned on Thursday 16:30 and breached at 18:01, but now due on Friday at 17:00 and
    # warned at 13:00: both marks no longer hold, so both come again at the new times
    assert (stored.warned_at, stored.breach_notified_at) == (None, None)
    with engine.connect() as conn:
        details = conn.execute(
            select(db.audit_events.c.details).where(db.audit_events.c.action == "reclassified")
        ).scalar_one()
    assert details["was"] == "trade"
    assert details["due_at"] == roads.due.astimezone(UTC).isoformat()


def test_reclassify_keeps_the_deadline_and_marks_when_the_policy_gives_the_same(
    engine: Engine,
) -> None:
    incident_id = store(engine, SLOW_ROADS, topic="trade")
    before = row(engine, incident_id)
    warned = T0 + timedelta(hours=6, minutes=30)
    set_columns(engine, incident_id, warned_at=warned)
    with engine.begin() as conn:
        inbox.reclassify_open(
            conn, topic_is("housing", "r2"), "r2", warned, deadline=working_hours_policy(SLOW_ROADS)
        )
    after = row(engine, incident_id)
    assert after.topic == "housing"
    assert (after.due_at, after.warn_at, after.warned_at) == (before.due_at, before.warn_at, warned)


def reply_events(engine: Engine, incident_id: int) -> list[str]:
    with engine.connect() as conn:
        return [
            a
            for a in conn.execute(
                select(db.audit_events.c.action).where(db.audit_events.c.incident_id == incident_id)
            ).scalars()
            if a.startswith("reply")
        ]


def test_a_reply_queued_from_the_command_line_writes_one_audit_event(
    engine: Engine, clock: FakeClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    incident_id = add_incident(engine, clock(), "Магазин не вернул деньги", external_id="100")
    assert incident_id is not None
    config = tmp_path / "config.toml"
    url = engine.url.render_as_string(hide_password=False)
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    args = ["--config", str(config), "reply", str(incident_id), "--text", "Здравствуйте"]
    assert main(args) == 0
    assert reply_events(engine, incident_id) == ["reply_sent"]
    assert main(args) == 1  # a second reply is refused, in English, and audits nothing
    assert "already has a reply waiting" in capsys.readouterr().err
    assert reply_events(engine, incident_id) == ["reply_sent"]


def test_a_reply_sent_from_the_web_writes_one_audit_event(engine: Engine, clock: FakeClock) -> None:
    add_user(engine, "anna", Role.STAFF, clock())
    incident_id = add_incident(engine, clock(), "Магазин не вернул деньги", external_id="100")
    assert incident_id is not None
    with TestClient(make_app(engine, clock)) as anna:
        assert login(anna, "anna").status_code == 303
        page = f"/incidents/{incident_id}"
        post_form(anna, f"{page}/reply", {"text": "Здравствуйте"}, page)
    assert reply_events(engine, incident_id) == ["reply_sent"]
    with engine.connect() as conn:
        details = conn.execute(
            select(db.audit_events.c.details).where(db.audit_events.c.action == "reply_sent")
        ).scalar_one()
    assert details["kind"] == "answer"
    assert isinstance(details["outbox_id"], int)
