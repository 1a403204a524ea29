"""The Telegram source against the in-memory Telegram: posts and comments in the discussion
group, the committee's answers, live messages, faults, and replies sent as the channel."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Mapping

import pytest
from sqlalchemy import Engine, func, select

from incident import db, pipeline
from incident.inbox import calendar_hours
from incident.models import Batch, Comment, OutgoingReply, Platform
from incident.pipeline import Ingestion
from incident.sources.base import PermanentSourceError, Source, TransientSourceError
from incident.sources.fakes.telegram_fake import FakeTelegram
from incident.sources.telegram import TelegramSource
from incident.sources.telegram.source import Retry
from tests.conftest import FakeClock

CHANNEL = "committee_news"
INGESTION = Ingestion(deadline=calendar_hours(8))


class RecordingSleep:
    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.fixture
def naps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def tg(naps: RecordingSleep) -> FakeTelegram:
    return FakeTelegram(channel_username=CHANNEL, sleep=naps)


def source_on(tg: FakeTelegram, *, send_as_channel: bool = True) -> TelegramSource:
    return TelegramSource(
        name="tg-main",
        community=CHANNEL,
        gateway=tg,
        send_as_channel=send_as_channel,
        listen_wait=0.01,
        retry=Retry(attempts=3, initial=0.001, maximum=0.002),
        sleep=lambda _: None,
        rng=random.Random(1),
    )


@pytest.fixture
def source(tg: FakeTelegram) -> Iterator[TelegramSource]:
    with source_on(tg) as s:
        yield s


def sweep_all(source: Source, cursors: dict[str, str]) -> list[Comment]:
    """Run a sweep, apply its cursors to ``cursors`` as the worker would, return the comments."""
    found: list[Comment] = []
    for batch in source.sweep(cursors):
        cursors.update(batch.cursors)
        found.extend(c.comment for c in batch.changes if c.comment is not None)
    return found


def comments_of(batch: Batch) -> list[Comment]:
    return [c.comment for c in batch.changes if c.comment is not None]


def reply(to: str, text: str, post_id: str = "1", community: str = CHANNEL) -> OutgoingReply:
    return OutgoingReply(
        outbox_id=1,
        idempotency_key="k-1",
        community=community,
        post_id=post_id,
        reply_to_id=to,
        text=text,
    )


def test_a_source_is_a_source(source: TelegramSource) -> None:
    checked: Source = source
    assert (checked.name, checked.platform) == ("tg-main", Platform.TELEGRAM)


def test_the_first_sweep_reads_every_comment_and_not_the_posts(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    post = tg.publish_post("Ремонт дорог в марте")
    first = tg.comment(post, "Когда починят Ленина?", author=1)
    second = tg.comment(post, "А Садовую?", author=2)
    comments = sweep_all(source, {})
    assert [c.external_id for c in comments] == [str(first), str(second)]
    assert all(c.post_id == str(post) for c in comments)
    assert str(tg.copy_of(post)) not in {c.external_id for c in comments}
    alice = comments[0]
    assert (alice.platform, alice.community, alice.author_id) == (
        Platform.TELEGRAM,
        CHANNEL,
        "9001",
    )
    assert alice.author_name == "Анна Петрова"
    assert (alice.reply_to_id, alice.thread_root_id, alice.from_community) == (None, None, False)
    assert alice.created_at.utcoffset() is not None


def test_comments_are_tied_to_their_own_post_across_posts(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    roads, parks = tg.publish_post("Дороги"), tg.publish_post("Парки")
    on_parks = tg.comment(parks, "Скамейки сломаны")
    on_roads = tg.comment(roads, "Яма у школы")
    by_id = {c.external_id: c.post_id for c in sweep_all(source, {})}
    assert by_id == {str(on_parks): str(parks), str(on_roads): str(roads)}


def test_a_catch_up_sweep_from_the_stored_min_id_reads_only_new_messages(
    tg: FakeTelegram, naps: RecordingSleep
) -> None:
    post = tg.publish_post("Пост")
    tg.comment(post, "Старый комментарий")
    cursors: dict[str, str] = {}
    with source_on(tg) as first_worker:
        sweep_all(first_worker, cursors)
    newer = tg.comment(post, "Новый комментарий", author=2)
    with source_on(tg) as restarted:  # a new process: only the stored cursors carry over
        comments = sweep_all(restarted, cursors)
    assert [(c.external_id, c.post_id) for c in comments] == [(str(newer), str(post))]
    assert cursors[f"min_id:{tg.chats.group_id}"] == str(newer)


def test_an_idle_sweep_costs_one_history_call_and_changes_nothing(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    post = tg.publish_post("Пост")
    tg.comment(post, "Вопрос")
    cursors: dict[str, str] = {}
    sweep_all(source, cursors)
    before = tg.calls
    batches = list(source.sweep(cursors))
    assert tg.calls - before == 1
    assert [b.changes for b in batches] == [()]


def test_a_long_group_history_comes_in_pages_each_with_its_cursor(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    post = tg.publish_post("Пост")
    for n in range(150):
        tg.comment(post, f"Комментарий {n}")
    batches = list(source.sweep({}))
    assert [len(b.changes) for b in batches] == [99, 51]  # the first page holds the post's copy
    key = f"min_id:{tg.chats.group_id}"
    assert [b.cursors[key] for b in batches] == ["100", "151"]


def test_replies_in_a_thread_name_the_comment_and_the_threads_first_comment(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    post = tg.publish_post("Пост")
    question = tg.comment(post, "Вопрос", author=1)
    answer = tg.comment(post, "Тоже интересно", author=2, reply_to=question)
    deeper = tg.comment(post, "И мне", author=3, reply_to=answer)
    by_id = {c.external_id: c for c in sweep_all(source, {})}
    assert (by_id[str(answer)].reply_to_id, by_id[str(answer)].thread_root_id) == (
        str(question),
        str(question),
    )
    assert (by_id[str(deeper)].reply_to_id, by_id[str(deeper)].thread_root_id) == (
        str(answer),
        str(question),
    )


def test_the_channels_own_answer_is_from_the_community(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    post = tg.publish_post("Пост")
    question = tg.comment(post, "Когда?")
    answer = tg.channel_message(post, "В апреле", reply_to=question, signed="И. Петров")
    by_id = {c.external_id: c for c in sweep_all(source, {})}
    assert by_id[str(question)].from_community is False
    ours = by_id[str(answer)]
    assert (ours.from_community, ours.reply_to_id, ours.author_id) == (
        True,
        str(question),
        f"-100{tg.chats.channel_id}",
    )


def test_messages_under_no_post_are_not_comments(tg: FakeTelegram, source: TelegramSource) -> None:
    tg.publish_post("Пост")
    tg.group_chatter("Всем привет")
    assert sweep_all(source, {}) == []


def test_edits_show_in_the_next_read_and_deleted_messages_are_not_read(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    post = tg.publish_post("Пост")
    edited = tg.comment(post, "Опечтка")
    gone = tg.comment(post, "Удалю")
    tg.edit(edited, "Опечатка")
    tg.delete(gone)
    assert [(c.external_id, c.text) for c in sweep_all(source, {})] == [(str(edited), "Опечатка")]


def test_live_messages_arrive_with_their_chat_and_id_as_the_event_id(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    cursors: dict[str, str] = {}
    sweep_all(source, cursors)
    first = source.listen_once(cursors)  # a new listener asks for a catch-up sweep once
    assert first.needs_sweep
    post = tg.publish_post("Пост")
    comment = tg.comment(post, "Живой комментарий")
    batch = source.listen_once(cursors)
    assert not batch.needs_sweep
    assert [(c.external_id, c.event_id) for c in batch.changes] == [
        (str(comment), f"{tg.chats.group_id}:{comment}")
    ]
    assert comments_of(batch)[0].post_id == str(post)
    assert batch.cursors == {f"copy:{tg.chats.group_id}:{tg.copy_of(post)}": str(post)}
    assert source.listen_once(cursors).changes == ()


def test_a_live_comment_under_an_unknown_post_asks_for_a_sweep(tg: FakeTelegram) -> None:
    post = tg.publish_post("Пост, опубликованный до запуска")
    with source_on(tg) as source:
        source.listen_once({})
        tg.comment(post, "Комментарий")
        batch = source.listen_once({})
        assert (batch.changes, batch.needs_sweep) == ((), True)


def test_at_debug_level_a_comment_under_an_unknown_post_is_logged_with_its_ids(
    tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="incident.sources.telegram")
    post = tg.publish_post("Пост, опубликованный до запуска")
    with source_on(tg) as source:
        source.listen_once({})
        comment = tg.comment(post, "Комментарий")
        batch = source.listen_once({})
    assert (batch.changes, batch.needs_sweep) == ((), True)
    (record,) = [r for r in caplog.records if r.msg == "telegram message not under a known post"]
    assert (record.source, record.message_id) == ("tg-main", comment)


def test_a_replayed_live_message_is_stored_once(
    engine: Engine, tg: FakeTelegram, source: TelegramSource, clock: FakeClock
) -> None:
    post = tg.publish_post("Пост")
    pipeline.sweep_once(engine, source, clock, INGESTION)
    pipeline.listen_once(engine, source, clock, INGESTION)
    comment = tg.comment(post, "Комментарий")
    live = pipeline.listen_once(engine, source, clock, INGESTION)
    tg.replay(comment)  # Telegram pushes it again after a crash
    replayed = pipeline.listen_once(engine, source, clock, INGESTION)
    assert (live.result.stored, replayed.result.stored, replayed.result.duplicates) == (1, 0, 1)
    swept = pipeline.sweep_once(engine, source, clock, INGESTION)
    assert swept.result.stored == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(db.incidents)).scalar_one() == 1


def test_a_short_flood_wait_is_slept_through(
    tg: FakeTelegram, source: TelegramSource, naps: RecordingSleep
) -> None:
    post = tg.publish_post("Пост")
    tg.comment(post, "Вопрос")
    tg.inject("flood_wait", seconds=5)
    assert len(sweep_all(source, {})) == 1
    assert naps.pauses == [5]


def test_a_long_flood_wait_is_transient_with_retry_after(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    tg.inject("flood_wait", seconds=420)
    with pytest.raises(TransientSourceError) as caught:
        sweep_all(source, {})
    assert caught.value.retry_after == 420


def test_a_brief_connection_loss_is_retried_then_a_lasting_one_is_transient(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    post = tg.publish_post("Пост")
    tg.comment(post, "Вопрос")
    tg.inject("connection", times=2)
    assert len(sweep_all(source, {})) == 1
    tg.inject("server", times=3)
    with pytest.raises(TransientSourceError) as caught:
        sweep_all(source, {})
    assert caught.value.retry_after is None


def test_a_revoked_session_stops_the_source_with_a_plain_reason(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    tg.revoke()
    with pytest.raises(PermanentSourceError, match="incident telegram login"):
        sweep_all(source, {})


def test_an_account_that_is_no_admin_stops_the_source(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    tg.demote()
    with pytest.raises(PermanentSourceError, match="администратор"):
        sweep_all(source, {})


def test_a_reply_is_sent_as_the_channel_under_the_comment(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    post = tg.publish_post("Пост")
    question = tg.comment(post, "Когда?")
    posted = source.post_reply(reply(str(question), "В апреле", post_id=str(post)))
    [sent] = tg.sent
    assert (sent.reply_to, sent.text, sent.as_channel) == (question, "В апреле", True)
    assert posted.external_id == str(sent.id)
    assert posted.url == f"https://t.me/{CHANNEL}/{post}?comment={sent.id}"
    mine = tg.message(sent.id)
    assert (mine.reply_to_msg_id, mine.reply_to_top_id) == (question, tg.copy_of(post))


def test_our_own_reply_comes_back_in_the_sweep_as_the_communitys_answer(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    post = tg.publish_post("Пост")
    question = tg.comment(post, "Когда?")
    source.post_reply(reply(str(question), "В апреле", post_id=str(post)))
    answers = [c for c in sweep_all(source, {}) if c.from_community]
    assert [(c.reply_to_id, c.text) for c in answers] == [(str(question), "В апреле")]


def test_a_reply_whose_result_was_lost_is_not_sent_twice(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    post = tg.publish_post("Пост")
    question = tg.comment(post, "Когда?")
    tg.lose_next_result()
    with pytest.raises(TransientSourceError):
        source.post_reply(reply(str(question), "В апреле", post_id=str(post)))
    with source_on(tg) as restarted:  # the outbox retries later, perhaps from another worker
        posted = restarted.post_reply(reply(str(question), "В апреле", post_id=str(post)))
    assert [s.id for s in tg.sent] == [int(posted.external_id)]


def test_a_reply_found_already_sent_is_logged_at_info_level_with_its_message_id(
    tg: FakeTelegram, source: TelegramSource, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="incident.sources.telegram")
    post = tg.publish_post("Пост")
    question = tg.comment(post, "Когда?")
    tg.lose_next_result()
    with pytest.raises(TransientSourceError):
        source.post_reply(reply(str(question), "В апреле", post_id=str(post)))
    posted = source.post_reply(reply(str(question), "В апреле", post_id=str(post)))
    (record,) = [r for r in caplog.records if r.msg == "telegram reply found already sent"]
    assert (record.source, record.message_id) == ("tg-main", int(posted.external_id))


def test_the_same_text_to_another_comment_is_a_new_reply(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    post = tg.publish_post("Пост")
    first, second = tg.comment(post, "Когда?"), tg.comment(post, "И когда?", author=2)
    source.post_reply(reply(str(first), "В апреле", post_id=str(post)))
    source.post_reply(reply(str(second), "В апреле", post_id=str(post)))
    assert [s.reply_to for s in tg.sent] == [first, second]


def test_replies_from_the_account_itself_count_as_answers_when_not_sent_as_the_channel(
    tg: FakeTelegram,
) -> None:
    post = tg.publish_post("Пост")
    question = tg.comment(post, "Когда?")
    with source_on(tg, send_as_channel=False) as source:
        source.post_reply(reply(str(question), "В апреле", post_id=str(post)))
        assert tg.sent[0].as_channel is False
        answers = [c for c in sweep_all(source, {}) if c.from_community]
    assert [c.reply_to_id for c in answers] == [str(question)]


def test_a_reply_for_another_channel_is_refused(tg: FakeTelegram, source: TelegramSource) -> None:
    from incident.sources.base import ReplyRejectedError

    with pytest.raises(ReplyRejectedError):
        source.post_reply(reply("5", "Текст", community="other_channel"))
    assert tg.sent == []


def _cursor_keys(cursors: Mapping[str, str]) -> set[str]:
    return {k.split(":")[0] for k in cursors}


def test_the_sweep_stores_where_each_post_copy_points(
    tg: FakeTelegram, source: TelegramSource
) -> None:
    post = tg.publish_post("Пост")
    cursors: dict[str, str] = {}
    sweep_all(source, cursors)
    assert _cursor_keys(cursors) == {"min_id", "copy"}
    assert cursors[f"copy:{tg.chats.group_id}:{tg.copy_of(post)}"] == str(post)


def test_links_open_the_post_and_the_comment_in_public_and_private_channels() -> None:
    from incident.sources.telegram import comment_link, post_link, private_chat_link

    assert post_link(CHANNEL, "7") == f"https://t.me/{CHANNEL}/7"
    assert comment_link(CHANNEL, "7", "42", "40") == f"https://t.me/{CHANNEL}/7?comment=42"
    assert post_link("1234567890", "7") == "https://t.me/c/1234567890/7"
    assert post_link(CHANNEL, "not-a-number") is None
    assert private_chat_link(CHANNEL) is None
