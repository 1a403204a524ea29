"""The inbox: storing changes exactly once, answers, the outbox's claims.

Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from incident import db, inbox
from incident.inbox import calendar_hours
from incident.models import Batch, ChangeKind, Comment, CommentChange, IncidentStatus, Platform
from tests.conftest import FakeClock
from tests.world import topic_classifier

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
POLICY = calendar_hours(8)


def comment(cid: int, text: str = "Магазин не принимает возврат", **kw: Any) -> Comment:
    values: dict[str, Any] = {
        "platform": Platform.VK,
        "community": "42",
        "post_id": "7",
        "external_id": str(cid),
        "author_id": "1001",
        "text": text,
        "created_at": T0 + timedelta(minutes=cid),
        "raw": {"id": cid},
    }
    values.update(kw)
    return Comment(**values)


def new(c: Comment, event_id: str | None = None) -> CommentChange:
    return CommentChange(
        ChangeKind.NEW, c.platform, c.community, c.external_id, c.post_id, c, event_id
    )


def ingest(engine: Engine, *changes: CommentChange, cursors: dict[str, str] | None = None) -> Any:
    with engine.begin() as conn:
        return inbox.ingest(
            conn, "vk-test", Batch(tuple(changes), cursors or {}), T0, deadline=POLICY
        )


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def incident_row(engine: Engine, external_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(db.incidents)
            .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
            .where(db.comments.c.external_id == external_id)
        ).one()


def test_a_citizen_comment_opens_one_incident_with_a_deadline(engine: Engine) -> None:
    result = ingest(engine, new(comment(1)))
    assert (result.stored, result.incidents) == (1, 1)
    row = incident_row(engine, "1")
    assert row.status == IncidentStatus.OPEN
    assert row.opened_at == T0 + timedelta(minutes=1)
    assert row.due_at == T0 + timedelta(minutes=1, hours=8)
    assert row.due_at.tzinfo is not None


def test_replaying_the_same_comments_stores_nothing_twice(engine: Engine) -> None:
    batch = [new(comment(1)), new(comment(2))]
    ingest(engine, *batch)
    again = ingest(engine, *batch)
    assert (again.stored, again.incidents, again.duplicates) == (0, 0, 2)
    assert count(engine, db.comments) == 2
    assert count(engine, db.incidents) == 2


def _statements(engine: Engine, work: Any) -> tuple[Any, int]:
    """``work(conn)`` in a transaction; its result and the statements it sent."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    with engine.begin() as conn:
        event.listen(conn, "before_cursor_execute", record)
        try:
            result = work(conn)
        finally:
            event.remove(conn, "before_cursor_execute", record)
    return result, len(sent)


def _community_batch(community: str, first_id: int, *, event: str | None = None) -> Batch:
    changes = tuple(
        new(
            comment(first_id + k, community=community, author_id=f"a{community}"),
            event_id=f"{event}-{k}" if event else None,
        )
        for k in range(3)
    )
    return Batch(changes, {"longpoll": f"ts-{first_id}"})


def test_many_sources_batches_cost_the_statements_of_one_and_each_gets_its_own_result(
    engine: Engine,
) -> None:
    def group(conn: Any, items: list[tuple[str, Batch]]) -> list[Any]:
        return inbox.ingest_group(
            conn, items, T0, deadline=POLICY, classify=topic_classifier("trade")
        )

    one, alone = _statements(engine, lambda conn: group(conn, [("vk-0", _community_batch("0", 1))]))
    items = [(f"vk-{n}", _community_batch(str(n), 100 * n, event=f"e{n}")) for n in range(1, 21)]
    results, together = _statements(engine, lambda conn: group(conn, items))
    # the event ids, comments, histories, incidents, audit, repeat list and cursors of twenty
    # sources: the same statements as one source's batch, plus the event ids' one
    assert together == alone + 1
    assert [(r.stored, r.incidents, r.duplicates) for r in one] == [(3, 3, 0)]
    assert [(r.stored, r.incidents, r.duplicates) for r in results] == [(3, 3, 0)] * 20
    with engine.connect() as conn:
        incidents = conn.execute(select(db.incidents.c.community, db.incidents.c.source)).all()
        cursors = {r.source: r.value for r in conn.execute(select(db.cursors))}
    sources = {r.community: r.source for r in incidents}
    assert len(incidents) == 63
    assert sources == {str(n): f"vk-{n}" for n in range(21)}
    assert cursors == {"vk-0": "ts-1", **{f"vk-{n}": f"ts-{100 * n}" for n in range(1, 21)}}
    # replayed, with one source's batch new: only that one stores, the others are duplicates
    replay = [*items[:5], ("vk-99", _community_batch("99", 9900, event="e99"))]
    with engine.begin() as conn:
        again = group(conn, replay)
    assert [(r.stored, r.duplicates) for r in again] == [(0, 3)] * 5 + [(3, 0)]


def test_a_group_applies_each_sources_changes_in_their_order_and_its_snapshots_after_them(
    engine: Engine,
) -> None:
    ingest(engine, new(comment(1)))
    edited = comment(1, text="Магазин вернул деньги, спасибо")
    later = comment(2, community="43", author_id="77", text="Кафе отравило ребёнка")
    with engine.begin() as conn:
        a, b = inbox.ingest_group(
            conn,
            [
                (
                    "vk-test",
                    Batch(
                        (
                            CommentChange(ChangeKind.EDIT, Platform.VK, "42", "1", "7", edited),
                            new(comment(3)),
                            CommentChange(ChangeKind.DELETE, Platform.VK, "42", "3", "7"),
                        ),
                        {},
                    ),
                ),
                ("vk-other", Batch((new(later),), {})),
            ],
            T0,
            deadline=POLICY,
        )
    assert (a.updated, a.stored, b.stored) == (2, 1, 1)
    with engine.connect() as conn:
        rows = conn.execute(
            select(db.comments.c.external_id, db.comments.c.text, db.comments.c.deleted).order_by(
                db.comments.c.id
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("1", "Магазин вернул деньги, спасибо", False),
        ("3", "Магазин не принимает возврат", True),
        ("2", "Кафе отравило ребёнка", False),
    ]


def test_a_repeated_push_event_is_ignored_by_its_event_id(engine: Engine) -> None:
    ingest(engine, new(comment(1), event_id="ev-1"))
    edited = comment(1, text="другой текст")
    edit = CommentChange(ChangeKind.EDIT, Platform.VK, "42", "1", "7", edited, "ev-1")
    result = ingest(engine, edit)
    assert result.duplicates == 1
    with engine.connect() as conn:
        assert (
            conn.execute(select(db.comments.c.text)).scalar_one() == "Магазин не принимает возврат"
        )


def test_an_event_repeated_inside_one_batch_is_applied_once_and_new_ones_beside_it_are_kept(
    engine: Engine,
) -> None:
    # the events of a batch are recorded in one statement: each is still judged on its own
    ingest(engine, new(comment(1), event_id="ev-1"))
    edited = comment(2, text="другой текст")
    result = ingest(
        engine,
        new(comment(1), event_id="ev-1"),  # seen in the earlier batch
        new(comment(2), event_id="ev-2"),
        new(comment(2), event_id="ev-2"),  # delivered twice in this one
        CommentChange(ChangeKind.EDIT, Platform.VK, "42", "2", "7", edited, "ev-3"),
    )
    assert (result.stored, result.updated, result.duplicates) == (1, 1, 2)
    with engine.connect() as conn:
        texts = conn.execute(select(db.comments.c.text).order_by(db.comments.c.id)).scalars()
        assert list(texts) == ["Магазин не принимает возврат", "другой текст"]


def test_cursors_are_saved_with_the_batch_and_replaced_by_later_ones(engine: Engine) -> None:
    ingest(engine, new(comment(1)), cursors={"post:7": '{"last": 1}', "longpoll": '{"ts": "5"}'})
    ingest(engine, cursors={"post:7": '{"last": 9}'})
    with engine.connect() as conn:
        assert inbox.load_cursors(conn, "vk-test") == {
            "post:7": '{"last": 9}',
            "longpoll": '{"ts": "5"}',
        }
        assert inbox.load_cursors(conn, "another-source") == {}


def test_a_failed_transaction_keeps_neither_the_comments_nor_the_cursor(engine: Engine) -> None:
    def killed_before_commit() -> None:
        with engine.begin() as conn:
            batch = Batch((new(comment(1)),), {"post:7": "x"})
            inbox.ingest(conn, "vk-test", batch, T0, deadline=POLICY)
            raise RuntimeError("worker killed before commit")

    with pytest.raises(RuntimeError):
        killed_before_commit()
    assert count(engine, db.comments) == 0
    with engine.connect() as conn:
        assert inbox.load_cursors(conn, "vk-test") == {}


def test_the_communitys_own_reply_answers_the_comment_it_replies_to(engine: Engine) -> None:
    ingest(engine, new(comment(1)))
    answer = comment(
        2,
        text="Здравствуйте! Напишите нам в личные сообщения.",
        author_id="-42",
        from_community=True,
        reply_to_id="1",
        thread_root_id="1",
    )
    result = ingest(engine, new(answer))
    assert (result.stored, result.incidents, result.answered) == (1, 0, 1)
    row = incident_row(engine, "1")
    assert row.status == IncidentStatus.ANSWERED
    assert row.first_response_at == answer.created_at
    assert row.first_response_by == "platform"


def test_a_community_reply_inside_a_thread_answers_the_thread_root(engine: Engine) -> None:
    ingest(engine, new(comment(1)))
    ingest(engine, new(comment(2, author_id="1002", reply_to_id="1", thread_root_id="1")))
    answer = comment(3, author_id="-42", from_community=True, reply_to_id="2", thread_root_id="1")
    ingest(engine, new(answer))
    assert incident_row(engine, "2").status == IncidentStatus.ANSWERED
    assert incident_row(engine, "1").status == IncidentStatus.OPEN


def test_an_edit_keeps_the_old_text_in_the_history(engine: Engine) -> None:
    ingest(engine, new(comment(1, text="первый вариант")))
    edited = comment(1, text="исправленный вариант")
    result = ingest(engine, CommentChange(ChangeKind.EDIT, Platform.VK, "42", "1", "7", edited))
    assert result.updated == 1
    with engine.connect() as conn:
        row = conn.execute(select(db.comments.c.text, db.comments.c.edits)).one()
    assert row.text == "исправленный вариант"
    assert [e["text"] for e in row.edits] == ["первый вариант"]


def test_an_edit_of_a_comment_never_seen_stores_it_as_new(engine: Engine) -> None:
    edited = comment(5, text="текст после правки")
    result = ingest(engine, CommentChange(ChangeKind.EDIT, Platform.VK, "42", "5", "7", edited))
    assert (result.stored, result.incidents) == (1, 1)


def test_deleting_closes_the_open_incident_and_restoring_reopens_it(engine: Engine) -> None:
    ingest(engine, new(comment(1)))
    ingest(engine, CommentChange(ChangeKind.DELETE, Platform.VK, "42", "1", "7"))
    row = incident_row(engine, "1")
    assert (row.status, row.closed_reason) == (IncidentStatus.CLOSED, "deleted")
    restored = CommentChange(ChangeKind.RESTORE, Platform.VK, "42", "1", "7", comment(1))
    ingest(engine, restored)
    row = incident_row(engine, "1")
    assert (row.status, row.closed_reason) == (IncidentStatus.OPEN, None)
    with engine.connect() as conn:
        actions = list(
            conn.execute(select(db.audit_events.c.action).order_by(db.audit_events.c.id))
        )
    assert [a.action for a in actions] == ["opened", "deleted_by_author", "restored_by_author"]


def test_two_workers_racing_for_one_reply_only_one_claims_it(
    engine: Engine, clock: FakeClock
) -> None:
    ingest(engine, new(comment(1)))
    with engine.begin() as conn:
        inbox.queue_reply(conn, 1, "Здравствуйте!", "anna", clock())
    lease = timedelta(minutes=2)
    with engine.begin() as conn:
        first = inbox.claim_reply(conn, "worker-a", clock(), lease)
    with engine.begin() as conn:
        second = inbox.claim_reply(conn, "worker-b", clock(), lease)
    assert first is not None
    assert second is None
    assert first.idempotency_key == "incident-outbox-1"
    assert (first.community, first.post_id, first.reply_to_id) == ("42", "7", "1")


def test_a_worker_sends_again_at_once_a_reply_whose_result_it_could_not_record(
    engine: Engine, clock: FakeClock
) -> None:
    # The worker posted (or tried to) and then lost the database before recording it: the
    # row stays "sending" under its own claim. It sends it again as soon as it can, with the
    # same key; another worker still waits for the lease to run out.
    ingest(engine, new(comment(1)))
    with engine.begin() as conn:
        inbox.queue_reply(conn, 1, "Здравствуйте!", "anna", clock())
    lease = timedelta(minutes=2)
    with engine.begin() as conn:
        first = inbox.claim_reply(conn, "worker-a", clock(), lease)
    clock.advance(seconds=5)
    with engine.begin() as conn:
        other = inbox.claim_reply(conn, "worker-b", clock(), lease)
        again = inbox.claim_reply(conn, "worker-a", clock(), lease)
    assert first is not None
    assert other is None
    assert again is not None
    assert again.idempotency_key == first.idempotency_key
    assert again.attempts == first.attempts + 1


def test_an_expired_lease_lets_another_worker_resend_with_the_same_key(
    engine: Engine, clock: FakeClock
) -> None:
    ingest(engine, new(comment(1)))
    with engine.begin() as conn:
        inbox.queue_reply(conn, 1, "Здравствуйте!", "anna", clock())
        first = inbox.claim_reply(conn, "worker-a", clock(), timedelta(minutes=2))
    clock.advance(minutes=3)
    with engine.begin() as conn:
        second = inbox.claim_reply(conn, "worker-b", clock(), timedelta(minutes=2))
    assert first is not None
    assert second is not None
    assert second.idempotency_key == first.idempotency_key
    assert second.attempts == 2
    with engine.begin() as conn:
        # the first worker comes back to life: its record is refused, the second's accepted
        assert not inbox.mark_posted(conn, first, "worker-a", "900", None, clock())
        assert inbox.mark_posted(conn, second, "worker-b", "900", None, clock())
    row = incident_row(engine, "1")
    assert (row.status, row.first_response_by) == (IncidentStatus.ANSWERED, "anna")


def test_a_second_reply_cannot_be_queued_while_one_is_waiting(
    engine: Engine, clock: FakeClock
) -> None:
    ingest(engine, new(comment(1)))
    with engine.begin() as conn:
        inbox.queue_reply(conn, 1, "Первый ответ", "anna", clock())
    with pytest.raises(inbox.ReplyNotAllowed) as waiting, engine.begin() as conn:
        inbox.queue_reply(conn, 1, "Второй ответ", "boris", clock())
    assert "already has a reply waiting" in waiting.value.reason
    assert str(waiting.value) == waiting.value.message  # staff see the Russian message only
    with pytest.raises(inbox.ReplyNotAllowed) as missing, engine.begin() as conn:
        inbox.queue_reply(conn, 99, "Ответ", "anna", clock())
    assert "no incident 99" in missing.value.reason
    with pytest.raises(inbox.ReplyNotAllowed) as empty, engine.begin() as conn:
        inbox.queue_reply(conn, 1, "   ", "anna", clock())
    assert "empty" in empty.value.reason


def test_an_answered_or_closed_incident_takes_no_further_reply(
    engine: Engine, clock: FakeClock
) -> None:
    ingest(engine, new(comment(1)), new(comment(2, author_id="1002")))
    answer = comment(3, author_id="-42", from_community=True, reply_to_id="1", thread_root_id="1")
    ingest(engine, new(answer), CommentChange(ChangeKind.DELETE, Platform.VK, "42", "2", "7"))
    for incident_id, status in ((1, "answered"), (2, "closed")):
        with pytest.raises(inbox.ReplyNotAllowed) as refused, engine.begin() as conn:
            inbox.queue_reply(conn, incident_id, "Ещё один ответ", "anna", clock())
        assert status in refused.value.reason
    assert count(engine, db.outbox) == 0


def test_our_posted_reply_coming_back_from_the_platform_keeps_the_staff_author(
    engine: Engine, clock: FakeClock
) -> None:
    ingest(engine, new(comment(1)))
    with engine.begin() as conn:
        inbox.queue_reply(conn, 1, "Здравствуйте!", "anna", clock())
        claim = inbox.claim_reply(conn, "w", clock(), timedelta(minutes=2))
        assert claim is not None
        inbox.mark_posted(conn, claim, "w", "77", "https://vk.com/x", clock())
    echo = comment(77, author_id="-42", from_community=True, reply_to_id="1", thread_root_id="1")
    result = ingest(engine, new(echo))
    assert result.answered == 0
    row = incident_row(engine, "1")
    assert (row.first_response_by, row.first_response_at) == ("anna", clock())


def test_times_come_back_timezone_aware_in_utc(engine: Engine) -> None:
    moscow = comment(1).created_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Moscow"))
    ingest(engine, new(comment(1, created_at=moscow)))
    with engine.connect() as conn:
        stored = conn.execute(select(db.comments.c.created_at)).scalar_one()
    assert stored == moscow
    assert stored.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        comment(1, created_at=datetime(2026, 1, 1, 12, 0))


def test_a_follow_up_by_the_same_author_before_an_answer_joins_the_open_incident(
    engine: Engine,
) -> None:
    ingest(engine, new(comment(1)))
    result = ingest(
        engine, new(comment(2, text="И чек не выдали", thread_root_id="1", reply_to_id="1"))
    )
    assert (result.stored, result.incidents, result.follow_ups) == (1, 0, 1)
    assert count(engine, db.incidents) == 1
    first = incident_row(engine, "1")
    assert first.due_at == T0 + timedelta(minutes=1, hours=8)  # the clock did not restart


def test_a_follow_up_after_the_answer_opens_a_new_incident_with_a_new_clock(
    engine: Engine,
) -> None:
    ingest(engine, new(comment(1)))
    answer = comment(2, author_id="-42", from_community=True, reply_to_id="1", thread_root_id="1")
    follow_up = comment(3, text="Не помогло", reply_to_id="2", thread_root_id="1")
    result = ingest(engine, new(answer), new(follow_up))  # in one batch, in order
    assert (result.answered, result.incidents) == (1, 1)
    assert incident_row(engine, "1").status == IncidentStatus.ANSWERED
    reopened = incident_row(engine, "3")
    assert reopened.status == IncidentStatus.OPEN
    assert reopened.opened_at == follow_up.created_at
    with engine.connect() as conn:
        event = conn.execute(
            select(db.audit_events.c.details).where(
                db.audit_events.c.action == "reopened_by_follow_up"
            )
        ).scalar_one()
    assert event == {"previous": incident_row(engine, "1").id}


def test_another_citizens_reply_in_a_thread_is_an_incident_of_its_own(engine: Engine) -> None:
    ingest(engine, new(comment(1)))
    result = ingest(engine, new(comment(2, author_id="2002", thread_root_id="1", reply_to_id="1")))
    assert (result.incidents, result.follow_ups) == (1, 0)


def figures_stub(opened: datetime, answered: datetime, due: datetime | None) -> dict[str, Any]:
    return {
        "response_seconds": int((answered - opened).total_seconds()),
        "on_time": due is not None and answered <= due,
    }


def test_an_answer_on_the_platform_stores_the_response_figures(engine: Engine) -> None:
    ingest(engine, new(comment(1)))
    answer = comment(61, author_id="-42", from_community=True, reply_to_id="1", thread_root_id="1")
    with engine.begin() as conn:
        inbox.ingest(
            conn, "vk-test", Batch((new(answer),)), T0, deadline=POLICY, figures=figures_stub
        )
    row = incident_row(engine, "1")
    assert row.response_seconds == 60 * 60  # comment 1 at T0+1 min, answer at T0+61 min
    assert row.on_time is True


def test_a_posted_reply_stores_the_figures_and_its_kind(engine: Engine, clock: FakeClock) -> None:
    ingest(engine, new(comment(1)))
    clock.advance(hours=9)
    with engine.begin() as conn:
        outbox_id = inbox.queue_reply(conn, 1, "Напишите нам", "anna", clock(), "move-to-private")
        claim = inbox.claim_reply(conn, "w", clock(), timedelta(minutes=2))
        assert claim is not None
        inbox.mark_posted(conn, claim, "w", "77", None, clock(), figures_stub)
        kind = conn.execute(
            select(db.outbox.c.kind).where(db.outbox.c.id == outbox_id)
        ).scalar_one()
    row = incident_row(engine, "1")
    assert kind == "move-to-private"
    assert row.response_seconds == (clock() - (T0 + timedelta(minutes=1))).total_seconds()
    assert row.on_time is False  # due 8 calendar hours after the comment, answered after 9


def test_a_reply_echoed_by_the_platform_before_it_was_recorded_keeps_its_author(
    engine: Engine, clock: FakeClock
) -> None:
    ingest(engine, new(comment(1)))
    with engine.begin() as conn:
        inbox.queue_reply(conn, 1, "Здравствуйте!", "anna", clock())
        claim = inbox.claim_reply(conn, "w", clock(), timedelta(minutes=2))
    assert claim is not None
    # the long poll delivers our own reply before the sender records it
    echo = comment(77, author_id="-42", from_community=True, reply_to_id="1", thread_root_id="1")
    ingest(engine, new(echo))
    assert incident_row(engine, "1").first_response_by == "platform"
    with engine.begin() as conn:
        assert inbox.mark_posted(conn, claim, "w", "77", None, clock())
    assert incident_row(engine, "1").first_response_by == "anna"


def test_one_worker_at_a_time_holds_a_source_until_its_lease_expires(
    engine: Engine, clock: FakeClock
) -> None:
    ttl = timedelta(minutes=2)

    def hold(owner: str) -> bool:
        with engine.begin() as conn:
            return inbox.take_source_lease(conn, "vk-main", owner, clock(), ttl)

    assert hold("worker-a")
    assert not hold("worker-b")
    clock.advance(minutes=1)
    assert hold("worker-a")  # renewed until minute 3
    clock.advance(minutes=1, seconds=30)
    assert not hold("worker-b")
    clock.advance(minutes=1)  # worker-a went silent: its lease ran out
    assert hold("worker-b")
    assert not hold("worker-a")
    with engine.begin() as conn:
        inbox.release_source(conn, "vk-main", "worker-a")  # not the holder: changes nothing
    assert not hold("worker-a")
    with engine.begin() as conn:
        inbox.release_source(conn, "vk-main", "worker-b")
    assert hold("worker-a")
