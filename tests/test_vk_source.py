"""The VK source, driven through the real vk_api library against the fake VK over HTTP."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from incident.models import Batch, ChangeKind, CommentChange, OutgoingReply, Platform
from incident.sources.base import (
    PermanentSourceError,
    ReplyRejectedError,
    Source,
    TransientSourceError,
)
from incident.sources.fakes.vk_server import FakeVk
from incident.sources.vk import RetryPolicy, VkSource
from incident.sources.vk.names import NameCache
from incident.sources.vk.wire import event_changes, to_comment
from tests.world import VkGroup, VkSetup, VkToken

GID = 4242
OTHER_GID = 777
COMMUNITY_TOKEN = "community-secret-token-4242"
SERVICE_TOKEN = "service-secret-token"
RETRY = RetryPolicy(attempts=5, initial=0.001, maximum=0.004)
ALICE, BOB = 101, 102


class RecordingSleep:
    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


class TopOfRange(random.Random):
    """Full jitter that always picks the largest pause, so a test can see the caps grow."""

    def uniform(self, a: float, b: float) -> float:
        return b


def expected_pauses(policy: RetryPolicy, failures: int) -> list[float]:
    return [min(policy.maximum, policy.initial * 2**k) for k in range(failures)]


@pytest.fixture
def vk_setup() -> VkSetup:
    return VkSetup(
        groups=(
            VkGroup(GID, "Комитет по защите прав потребителей"),
            VkGroup(OTHER_GID, "Соседнее сообщество"),
        ),
        tokens=(
            VkToken(COMMUNITY_TOKEN, "community", GID),
            VkToken("other-community-token", "community", OTHER_GID),
            VkToken(SERVICE_TOKEN, "service"),
        ),
        users={ALICE: ("Алиса", "Петрова"), BOB: ("Борис", "Иванов")},
        longpoll_max_wait=1.0,
    )


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


class SourceFactory:
    def __init__(self, fake_vk: FakeVk, sleep: RecordingSleep) -> None:
        self._fake = fake_vk
        self._sleep = sleep
        self._made: list[VkSource] = []

    def __call__(self, **overrides: Any) -> VkSource:
        options: dict[str, Any] = {
            "name": "vk-test",
            "group_id": GID,
            "community_token": COMMUNITY_TOKEN,
            "sweep_token": SERVICE_TOKEN,
            "session_factory": self._fake.session,
            "longpoll_wait": 1,
            "retry": RETRY,
            "sleep": self._sleep,
            "rng": TopOfRange(),
            "throttle": False,
        }
        options.update(overrides)
        source = VkSource(**options)
        self._made.append(source)
        return source

    def close(self) -> None:
        for source in self._made:
            source.close()


@pytest.fixture
def make_source(fake_vk: FakeVk, sleep: RecordingSleep) -> Iterator[SourceFactory]:
    factory = SourceFactory(fake_vk, sleep)
    yield factory
    factory.close()


@pytest.fixture
def source(make_source: SourceFactory) -> VkSource:
    return make_source()


def run_sweep(
    source: VkSource, cursors: Mapping[str, str]
) -> tuple[list[CommentChange], dict[str, str], int, list[Batch]]:
    batches = list(source.sweep(cursors))
    merged = dict(cursors)
    for batch in batches:
        merged.update(batch.cursors)
    changes = [change for batch in batches for change in batch.changes]
    return changes, merged, sum(b.api_calls for b in batches), batches


def ids(changes: list[CommentChange]) -> list[int]:
    return [int(c.external_id) for c in changes]


def reply(key: str, post_id: int, to: int, text: str = "Спасибо, разберёмся!") -> OutgoingReply:
    return OutgoingReply(
        outbox_id=1,
        idempotency_key=key,
        community=str(GID),
        post_id=str(post_id),
        reply_to_id=str(to),
        text=text,
    )


# -- sweep ------------------------------------------------------------------------------------


def test_vk_source_satisfies_the_source_protocol(source: VkSource) -> None:
    typed: Source = source
    assert typed.platform is Platform.VK
    assert typed.name == "vk-test"


def test_first_sweep_takes_every_comment_in_order_with_one_call_per_post(
    fake_vk: FakeVk, source: VkSource
) -> None:
    posts = [fake_vk.add_post(GID, f"Пост {n}") for n in range(3)]
    written: dict[int, list[int]] = {p: [] for p in posts}
    for round_ in range(4):
        for post in posts:
            written[post].append(fake_vk.add_comment(GID, post, ALICE, f"Вопрос {round_} к {post}"))

    changes, cursors, calls, batches = run_sweep(source, {})

    assert calls == 1 + len(posts)
    assert len(fake_vk.calls) == 1 + len(posts)
    assert [b.changes[0].post_id for b in batches] == [str(p) for p in posts]
    for batch, post in zip(batches, posts, strict=True):
        assert ids(list(batch.changes)) == written[post]
        assert set(batch.cursors) == {f"post:{post}"}
    assert all(c.kind is ChangeKind.NEW and c.comment is not None for c in changes)
    assert sorted(ids(changes)) == sorted(i for v in written.values() for i in v)
    assert json.loads(cursors[f"post:{posts[0]}"]) == {
        "n": 4,
        "last": written[posts[0]][-1],
        "t": {},
    }


def test_second_sweep_with_nothing_new_costs_one_call(fake_vk: FakeVk, source: VkSource) -> None:
    for n in range(3):
        post = fake_vk.add_post(GID, f"Пост {n}")
        fake_vk.add_comment(GID, post, ALICE, "Комментарий")
    _, cursors, _, _ = run_sweep(source, {})
    calls_before = len(fake_vk.calls)

    changes, _, calls, batches = run_sweep(source, cursors)

    assert changes == []
    assert calls == 1
    assert len(fake_vk.calls) - calls_before == 1
    assert [b.cursors for b in batches] == [{}]


def test_sweep_after_a_stored_cursor_returns_only_new_comments(
    fake_vk: FakeVk, source: VkSource
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    quiet = fake_vk.add_post(GID, "Пост без новых комментариев")
    old = [fake_vk.add_comment(GID, post, ALICE, f"Старый {n}") for n in range(3)]
    fake_vk.add_comment(GID, quiet, BOB, "Старый в тихом посте")
    _, cursors, _, _ = run_sweep(source, {})
    new = [fake_vk.add_comment(GID, post, BOB, f"Новый {n}") for n in range(2)]

    changes, _, calls, _ = run_sweep(source, cursors)

    assert ids(changes) == new
    assert not set(ids(changes)) & set(old)
    assert calls == 2  # wall.get and one page of the post that changed
    last_call = fake_vk.calls[-1]
    assert last_call[0] == "wall.getComments"
    assert last_call[1]["start_comment_id"] == str(old[-1])


def test_post_with_exactly_one_hundred_comments_costs_one_page(
    fake_vk: FakeVk, source: VkSource
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    written = [fake_vk.add_comment(GID, post, ALICE, f"Комментарий {n}") for n in range(100)]

    changes, _, calls, _ = run_sweep(source, {})

    assert ids(changes) == written
    assert calls == 1 + 1


def test_sweep_pages_through_more_than_one_hundred_comments(
    fake_vk: FakeVk, source: VkSource
) -> None:
    post = fake_vk.add_post(GID, "Популярный пост")
    written = [fake_vk.add_comment(GID, post, ALICE, f"Комментарий {n}") for n in range(250)]

    changes, cursors, calls, _ = run_sweep(source, {})

    assert ids(changes) == written
    assert calls == 1 + 3
    assert json.loads(cursors[f"post:{post}"])["last"] == written[-1]
    more = [fake_vk.add_comment(GID, post, BOB, f"Ещё {n}") for n in range(120)]
    changes, _, _, _ = run_sweep(source, cursors)
    assert ids(changes) == more


def test_sweep_fetches_thread_replies_beyond_the_ten_inlined(
    fake_vk: FakeVk, source: VkSource
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    top = fake_vk.add_comment(GID, post, ALICE, "Вопрос")
    replies = [
        fake_vk.add_comment(GID, post, BOB, f"Ответ {n}", reply_to_comment=top) for n in range(25)
    ]

    changes, cursors, _, _ = run_sweep(source, {})

    assert ids(changes) == [top, *replies]
    by_id = {int(c.external_id): c.comment for c in changes}
    first_reply = by_id[replies[0]]
    assert first_reply is not None
    assert first_reply.thread_root_id == str(top)
    assert first_reply.reply_to_id == str(top)
    assert json.loads(cursors[f"post:{post}"])["t"] == {str(top): [25, replies[-1]]}

    later = [
        fake_vk.add_comment(GID, post, ALICE, f"Ещё {n}", reply_to_comment=top) for n in range(3)
    ]
    changes, _, _, _ = run_sweep(source, cursors)
    assert ids(changes) == later


def test_reply_under_an_older_comment_is_found_by_the_next_sweep(
    fake_vk: FakeVk, source: VkSource
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    older = fake_vk.add_comment(GID, post, ALICE, "Первый вопрос")
    fake_vk.add_comment(GID, post, BOB, "Второй вопрос")
    _, cursors, _, _ = run_sweep(source, {})
    answer = fake_vk.add_comment(GID, post, BOB, "Ответ на первый", reply_to_comment=older)
    nested = fake_vk.add_comment(GID, post, ALICE, "Ответ на ответ", reply_to_comment=answer)

    changes, cursors, _, _ = run_sweep(source, cursors)

    assert ids(changes) == [answer, nested]
    nested_comment = changes[1].comment
    assert nested_comment is not None
    assert nested_comment.reply_to_id == str(answer)
    assert nested_comment.thread_root_id == str(older)
    assert run_sweep(source, cursors)[0] == []


def test_comment_carries_author_time_and_text(fake_vk: FakeVk, source: VkSource) -> None:
    post = fake_vk.add_post(GID, "Пост")
    text = "Магазин отказывается вернуть деньги за сломанный чайник, что делать? " * 3
    cid = fake_vk.add_comment(GID, post, ALICE, text, date=1_767_000_000)

    changes, _, _, _ = run_sweep(source, {})

    comment = changes[0].comment
    assert comment is not None
    assert comment.text == text  # not cut to VK's default 90-character preview
    assert comment.author_id == str(ALICE)
    assert comment.author_name == "Алиса Петрова"
    assert comment.created_at == datetime.fromtimestamp(1_767_000_000, tz=UTC)
    assert comment.community == str(GID)
    assert comment.post_id == str(post)
    assert comment.external_id == str(cid)
    assert comment.from_community is False
    assert comment.reply_to_id is None
    assert comment.thread_root_id is None
    assert comment.raw["id"] == cid


def test_community_own_comment_is_marked_from_community(fake_vk: FakeVk, source: VkSource) -> None:
    post = fake_vk.add_post(GID, "Пост")
    question = fake_vk.add_comment(GID, post, ALICE, "Вопрос")
    fake_vk.add_comment(GID, post, -GID, "Ответ комитета", reply_to_comment=question)

    changes, _, _, _ = run_sweep(source, {})

    flags = [(c.comment.from_community, c.comment.author_name) for c in changes if c.comment]
    assert flags == [(False, "Алиса Петрова"), (True, "Комитет по защите прав потребителей")]


def test_deleted_comments_are_skipped(fake_vk: FakeVk, source: VkSource) -> None:
    post = fake_vk.add_post(GID, "Пост")
    kept = fake_vk.add_comment(GID, post, ALICE, "Остаётся")
    gone = fake_vk.add_comment(GID, post, BOB, "Удалят")
    reply_gone = fake_vk.add_comment(GID, post, BOB, "Тоже удалят", reply_to_comment=kept)
    fake_vk.delete_comment(GID, gone)
    fake_vk.delete_comment(GID, reply_gone)

    changes, _, _, _ = run_sweep(source, {})

    assert ids(changes) == [kept]


def test_unreadable_cursor_reads_the_post_from_the_start(fake_vk: FakeVk, source: VkSource) -> None:
    post = fake_vk.add_post(GID, "Пост")
    written = [fake_vk.add_comment(GID, post, ALICE, f"Комментарий {n}") for n in range(3)]

    changes, cursors, _, _ = run_sweep(source, {f"post:{post}": "{not json"})

    assert ids(changes) == written
    assert json.loads(cursors[f"post:{post}"])["n"] == 3


def test_comment_without_text_maps_to_empty_text() -> None:
    item = {"id": 5, "from_id": ALICE, "date": 1_700_000_000, "attachments": [{"type": "photo"}]}

    comment = to_comment(GID, item, 3, None, None)

    assert comment.text == ""
    assert comment.external_id == "5"


# -- long poll --------------------------------------------------------------------------------


def test_listen_without_stored_ts_asks_for_a_sweep(source: VkSource) -> None:
    batch = source.listen_once({})

    assert batch.needs_sweep is True
    assert batch.changes == ()
    assert "ts" in json.loads(batch.cursors["longpoll"])


def test_live_events_become_changes_with_event_ids(fake_vk: FakeVk, source: VkSource) -> None:
    post = fake_vk.add_post(GID, "Пост")
    cursors = dict(source.listen_once({}).cursors)
    cid = fake_vk.add_comment(GID, post, ALICE, "Новый")
    fake_vk.edit_comment(GID, cid, "Исправленный")
    fake_vk.delete_comment(GID, cid)
    fake_vk.restore_comment(GID, cid)

    batch = source.listen_once(cursors)

    kinds = [c.kind for c in batch.changes]
    assert kinds == [ChangeKind.NEW, ChangeKind.EDIT, ChangeKind.DELETE, ChangeKind.RESTORE]
    assert [c.event_id for c in batch.changes] == [e["event_id"] for e in fake_vk.events(GID)]
    assert {c.external_id for c in batch.changes} == {str(cid)}
    assert {c.post_id for c in batch.changes} == {str(post)}
    edited = batch.changes[1].comment
    assert edited is not None
    assert edited.text == "Исправленный"
    assert batch.changes[2].comment is None
    assert batch.needs_sweep is False
    assert batch.cursors["longpoll"] != cursors["longpoll"]
    assert source.listen_once(batch.cursors).changes == ()


def test_live_comments_carry_author_names_asked_once_per_author(
    fake_vk: FakeVk, source: VkSource
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    cursors = dict(source.listen_once({}).cursors)
    fake_vk.add_comment(GID, post, ALICE, "Первый")
    fake_vk.add_comment(GID, post, BOB, "Второй")
    first = source.listen_once(cursors)
    fake_vk.add_comment(GID, post, ALICE, "Ещё раз")
    calls_before = len(fake_vk.calls)
    second = source.listen_once(first.cursors)

    names = [c.comment.author_name for c in first.changes + second.changes if c.comment]
    assert names == ["Алиса Петрова", "Борис Иванов", "Алиса Петрова"]
    assert [m for m, _ in fake_vk.calls[calls_before:]] == []  # a_check only: the name was cached
    assert [m for m, _ in fake_vk.calls].count("users.get") == 1


def test_sources_sharing_a_name_cache_ask_for_an_author_once_between_them(
    fake_vk: FakeVk, make_source: SourceFactory
) -> None:
    # the same citizen writes under two communities' posts: one users.get serves both
    shared = NameCache()
    ours = make_source(names=shared)
    theirs = make_source(
        name="vk-other", group_id=OTHER_GID, community_token="other-community-token", names=shared
    )
    here, there = fake_vk.add_post(GID, "Пост"), fake_vk.add_post(OTHER_GID, "Пост")
    ours_cursors = dict(ours.listen_once({}).cursors)
    theirs_cursors = dict(theirs.listen_once({}).cursors)
    fake_vk.add_comment(GID, here, ALICE, "Здесь")
    first = ours.listen_once(ours_cursors)
    fake_vk.add_comment(OTHER_GID, there, ALICE, "И там")
    second = theirs.listen_once(theirs_cursors)

    names = [c.comment.author_name for c in first.changes + second.changes if c.comment]
    assert names == ["Алиса Петрова", "Алиса Петрова"]
    assert [m for m, _ in fake_vk.calls].count("users.get") == 1


def test_a_name_cache_keeps_the_most_recently_used_names_within_its_bound() -> None:
    cache = NameCache(limit=2)
    cache.put(1, "Первый")
    cache.put(2, "Второй")
    assert cache.get(1) == "Первый"  # used: now the newest
    cache.put(3, "Третий")
    assert (1 in cache, 2 in cache, 3 in cache, len(cache)) == (True, False, True, 2)


def test_live_comments_still_arrive_when_names_cannot_be_had(
    fake_vk: FakeVk, source: VkSource
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    cursors = dict(source.listen_once({}).cursors)
    cid = fake_vk.add_comment(GID, post, ALICE, "Без имени, но не потерян")
    fake_vk.http_error_next("users.get", 502, times=10)

    batch = source.listen_once(cursors)

    assert [c.external_id for c in batch.changes] == [str(cid)]
    assert batch.changes[0].comment is not None
    assert batch.changes[0].comment.author_name is None


def test_a_failing_users_get_never_stops_intake_and_the_name_follows_later(
    fake_vk: FakeVk, source: VkSource
) -> None:
    # Error 5 looks like a broken token, but names are a courtesy: intake goes on.
    post = fake_vk.add_post(GID, "Пост")
    cursors = dict(source.listen_once({}).cursors)
    cid = fake_vk.add_comment(GID, post, ALICE, "Без имени, но не потерян")
    fake_vk.fail_next("users.get", 5)

    first = source.listen_once(cursors)
    fake_vk.add_comment(GID, post, BOB, "Следующий")
    second = source.listen_once(first.cursors)

    assert [(c.kind, c.external_id) for c in first.changes] == [(ChangeKind.NEW, str(cid))]
    assert first.changes[0].comment is not None
    assert first.changes[0].comment.author_name is None
    named = [(c.kind, c.external_id, c.comment.author_name) for c in second.changes if c.comment]
    assert named[-1] == (ChangeKind.EDIT, str(cid), "Алиса Петрова")
    assert named[0][2] == "Борис Иванов"
    assert named[-1][0] is ChangeKind.EDIT
    assert second.changes[-1].comment is not None
    assert second.changes[-1].comment.text == "Без имени, но не потерян"
    third = source.listen_once(second.cursors)
    assert third.changes == ()  # named once, not again


def test_after_a_failed_users_get_the_idle_rounds_do_not_ask_again_every_time(
    fake_vk: FakeVk, source: VkSource
) -> None:
    # The owed name is asked again with the next call there is anyway, or after a minute:
    # never one users.get per long-poll round while VK refuses.
    post = fake_vk.add_post(GID, "Пост")
    cursors = dict(source.listen_once({}).cursors)
    fake_vk.add_comment(GID, post, ALICE, "Без имени пока")
    fake_vk.fail_next("users.get", 5)
    first = source.listen_once(cursors)
    second = source.listen_once(first.cursors)
    third = source.listen_once(second.cursors)
    assert first.changes[0].comment is not None
    assert first.changes[0].comment.author_name is None
    assert (second.changes, third.changes) == ((), ())
    assert [m for m, _ in fake_vk.calls].count("users.get") == 1


def test_a_new_instance_resumes_from_the_stored_ts(
    fake_vk: FakeVk, make_source: SourceFactory
) -> None:
    cursors = make_source().listen_once({}).cursors
    post = fake_vk.add_post(GID, "Пост")
    cid = fake_vk.add_comment(GID, post, ALICE, "Пока воркер перезапускался")

    batch = make_source().listen_once(cursors)

    assert [c.external_id for c in batch.changes] == [str(cid)]
    assert batch.needs_sweep is False
    # groups.getLongPollServer for the key, a_check, users.get for the new author's name
    assert batch.api_calls == 3


def test_events_of_other_groups_and_types_are_ignored() -> None:
    obj = {"id": 9, "from_id": ALICE, "date": 1, "text": "x", "post_id": 3, "owner_id": -GID}
    updates = [
        {"group_id": OTHER_GID, "type": "wall_reply_new", "event_id": "a", "object": obj},
        {"group_id": GID, "type": "wall_post_new", "event_id": "b", "object": obj},
        {"group_id": GID, "type": "wall_reply_new", "event_id": "c", "object": obj},
    ]

    changes = event_changes(GID, updates)

    assert [c.event_id for c in changes] == ["c"]


def test_failed_1_takes_the_new_ts_and_asks_for_a_sweep(fake_vk: FakeVk, source: VkSource) -> None:
    cursors = source.listen_once({}).cursors
    fake_vk.longpoll_fail_next(1)

    batch = source.listen_once(cursors)

    assert batch.needs_sweep is True
    assert "longpoll" in batch.cursors
    post = fake_vk.add_post(GID, "Пост")
    cid = fake_vk.add_comment(GID, post, ALICE, "После сбоя")
    assert [c.external_id for c in source.listen_once(batch.cursors).changes] == [str(cid)]


def test_failed_2_fetches_a_new_key_and_keeps_the_ts(fake_vk: FakeVk, source: VkSource) -> None:
    cursors = source.listen_once({}).cursors
    fake_vk.longpoll_fail_next(2)

    batch = source.listen_once(cursors)

    assert batch.needs_sweep is False
    assert batch.cursors == cursors
    assert [m for m, _ in fake_vk.calls].count("groups.getLongPollServer") == 2
    post = fake_vk.add_post(GID, "Пост")
    cid = fake_vk.add_comment(GID, post, ALICE, "С новым ключом")
    assert [c.external_id for c in source.listen_once(batch.cursors).changes] == [str(cid)]


def test_failed_3_fetches_a_new_key_and_ts_and_asks_for_a_sweep(
    fake_vk: FakeVk, source: VkSource
) -> None:
    cursors = source.listen_once({}).cursors
    fake_vk.longpoll_fail_next(3)

    batch = source.listen_once(cursors)

    assert batch.needs_sweep is True
    assert [m for m, _ in fake_vk.calls].count("groups.getLongPollServer") == 2
    post = fake_vk.add_post(GID, "Пост")
    cid = fake_vk.add_comment(GID, post, ALICE, "После нового ключа")
    assert [c.external_id for c in source.listen_once(batch.cursors).changes] == [str(cid)]


def test_long_poll_http_fault_is_retried(
    fake_vk: FakeVk, source: VkSource, sleep: RecordingSleep
) -> None:
    cursors = source.listen_once({}).cursors
    post = fake_vk.add_post(GID, "Пост")
    cid = fake_vk.add_comment(GID, post, ALICE, "Комментарий")
    fake_vk.http_error_next("longpoll", 502)
    fake_vk.truncate_next("longpoll")

    batch = source.listen_once(cursors)

    assert [c.external_id for c in batch.changes] == [str(cid)]
    assert sleep.pauses == expected_pauses(RETRY, 2)
    assert batch.api_calls == 4  # three a_check tries, then users.get for the name


def test_long_poll_slower_than_the_timeout_is_retried(
    fake_vk: FakeVk, make_source: SourceFactory, sleep: RecordingSleep
) -> None:
    source = make_source(http_timeout=0.3)
    cursors = source.listen_once({}).cursors
    post = fake_vk.add_post(GID, "Пост")
    cid = fake_vk.add_comment(GID, post, ALICE, "Комментарий")
    fake_vk.delay_next("longpoll", 3.0)

    batch = source.listen_once(cursors)

    assert [c.external_id for c in batch.changes] == [str(cid)]
    assert len(sleep.pauses) == 1


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [6, 9, 10, 29])
def test_transient_vk_error_is_retried_with_growing_backoff(
    fake_vk: FakeVk, source: VkSource, sleep: RecordingSleep, code: int
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    cid = fake_vk.add_comment(GID, post, ALICE, "Комментарий")
    fake_vk.fail_next("wall.get", code, times=3)

    changes, _, calls, _ = run_sweep(source, {})

    assert ids(changes) == [cid]
    assert sleep.pauses == expected_pauses(RETRY, 3)
    assert sleep.pauses == sorted(sleep.pauses)
    assert calls == 3 + 1 + 1


@pytest.mark.parametrize(
    ("inject", "method"),
    [
        ("http_error_next", "wall.get"),
        ("truncate_next", "wall.get"),
        ("http_error_next", "wall.getComments"),
        ("truncate_next", "wall.getComments"),
    ],
)
def test_http_fault_and_broken_json_are_retried(
    fake_vk: FakeVk, source: VkSource, sleep: RecordingSleep, inject: str, method: str
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    cid = fake_vk.add_comment(GID, post, ALICE, "Комментарий")
    getattr(fake_vk, inject)(method, times=2)

    changes, _, calls, _ = run_sweep(source, {})

    assert ids(changes) == [cid]
    assert sleep.pauses == expected_pauses(RETRY, 2)
    assert calls == 2 + 1 + 1


def test_call_slower_than_the_http_timeout_is_retried(
    fake_vk: FakeVk, make_source: SourceFactory, sleep: RecordingSleep
) -> None:
    source = make_source(http_timeout=0.3)
    post = fake_vk.add_post(GID, "Пост")
    cid = fake_vk.add_comment(GID, post, ALICE, "Комментарий")
    fake_vk.delay_next("wall.getComments", 2.0)

    changes, _, calls, _ = run_sweep(source, {})

    assert ids(changes) == [cid]
    assert len(sleep.pauses) == 1
    assert calls == 3


def test_exhausted_attempts_raise_transient_error(
    fake_vk: FakeVk, source: VkSource, sleep: RecordingSleep
) -> None:
    fake_vk.add_post(GID, "Пост")
    fake_vk.fail_next("wall.get", 10, times=RETRY.attempts)

    with pytest.raises(TransientSourceError) as raised:
        run_sweep(source, {})

    assert "wall.get" in str(raised.value)
    assert len(fake_vk.calls) == RETRY.attempts
    assert sleep.pauses == expected_pauses(RETRY, RETRY.attempts - 1)
    assert sleep.pauses[-1] == RETRY.maximum  # capped


def test_broken_sweep_token_stops_the_source(fake_vk: FakeVk, make_source: SourceFactory) -> None:
    source = make_source(sweep_token="revoked-token")

    with pytest.raises(PermanentSourceError) as raised:
        run_sweep(source, {})

    assert "sweep_token" in str(raised.value)
    assert "revoked-token" not in str(raised.value)
    assert len(fake_vk.calls) == 1


def test_community_token_used_for_sweeping_stops_the_source(
    fake_vk: FakeVk, make_source: SourceFactory
) -> None:
    source = make_source(sweep_token=COMMUNITY_TOKEN)

    with pytest.raises(PermanentSourceError) as raised:
        run_sweep(source, {})

    assert "27" in str(raised.value)
    assert "сервисный" in str(raised.value)
    assert len(fake_vk.calls) == 1


def test_broken_community_token_stops_listening(make_source: SourceFactory) -> None:
    source = make_source(community_token="revoked-token")

    with pytest.raises(PermanentSourceError) as raised:
        source.listen_once({})

    assert "community_token" in str(raised.value)


def test_captcha_stops_the_source_without_prompting(fake_vk: FakeVk, source: VkSource) -> None:
    fake_vk.add_post(GID, "Пост")
    fake_vk.fail_next("wall.get", 14)

    with pytest.raises(PermanentSourceError) as raised:
        run_sweep(source, {})

    assert "капч" in str(raised.value)
    assert len(fake_vk.calls) == 1


def test_no_token_reaches_logs_or_errors(
    fake_vk: FakeVk, source: VkSource, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    post = fake_vk.add_post(GID, "Пост")
    question = fake_vk.add_comment(GID, post, ALICE, "Вопрос")
    fake_vk.fail_next("wall.get", 9)
    fake_vk.http_error_next("wall.getComments")
    fake_vk.fail_next("wall.createComment", 10)
    fake_vk.http_error_next("longpoll")
    run_sweep(source, {})
    source.post_reply(reply("k1", post, question))
    source.listen_once(source.listen_once({}).cursors)
    fake_vk.fail_next("wall.get", 10, times=RETRY.attempts)
    with pytest.raises(TransientSourceError) as raised:
        run_sweep(source, {})

    logged = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    for secret in (COMMUNITY_TOKEN, SERVICE_TOKEN):
        assert secret not in logged
        assert secret not in str(raised.value)
    assert caplog.records  # the retries were logged


# -- replies ----------------------------------------------------------------------------------


def test_posting_twice_with_the_same_key_creates_one_comment(
    fake_vk: FakeVk, source: VkSource
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    question = fake_vk.add_comment(GID, post, ALICE, "Вопрос")

    first = source.post_reply(reply("outbox-1", post, question))
    second = source.post_reply(reply("outbox-1", post, question))

    assert first == second
    assert len(fake_vk.created) == 1
    created = fake_vk.created[0]
    assert created["from_id"] == -GID
    assert created["reply_to_comment"] == question
    assert first.external_id == str(created["id"])
    assert first.url == (
        f"https://vk.com/wall-{GID}_{post}?reply={created['id']}&thread={question}"
    )


def test_reply_whose_answer_was_lost_is_retried_without_a_duplicate(
    fake_vk: FakeVk, source: VkSource, sleep: RecordingSleep
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    question = fake_vk.add_comment(GID, post, ALICE, "Вопрос")
    fake_vk.truncate_next("wall.createComment")

    posted = source.post_reply(reply("outbox-2", post, question, "Ответ"))

    assert len(fake_vk.created) == 1
    assert posted.external_id == str(fake_vk.created[0]["id"])
    assert len(sleep.pauses) == 1


def test_reply_in_a_thread_links_to_the_thread_root(fake_vk: FakeVk, source: VkSource) -> None:
    post = fake_vk.add_post(GID, "Пост")
    question = fake_vk.add_comment(GID, post, ALICE, "Вопрос")
    follow_up = fake_vk.add_comment(GID, post, BOB, "Уточнение", reply_to_comment=question)

    posted = source.post_reply(reply("outbox-3", post, follow_up))

    assert posted.url is not None
    assert posted.url.endswith(f"?reply={posted.external_id}&thread={question}")


def test_reply_to_a_deleted_comment_is_rejected(fake_vk: FakeVk, source: VkSource) -> None:
    post = fake_vk.add_post(GID, "Пост")
    question = fake_vk.add_comment(GID, post, ALICE, "Вопрос")
    fake_vk.delete_comment(GID, question)

    with pytest.raises(ReplyRejectedError) as raised:
        source.post_reply(reply("outbox-4", post, question))

    assert "100" in str(raised.value)
    assert fake_vk.created == []


@pytest.mark.parametrize("code", [15, 212, 213, 222])
def test_reply_refused_by_vk_is_rejected_with_its_code(
    fake_vk: FakeVk, source: VkSource, code: int
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    question = fake_vk.add_comment(GID, post, ALICE, "Вопрос")
    fake_vk.fail_next("wall.createComment", code)

    with pytest.raises(ReplyRejectedError) as raised:
        source.post_reply(reply("outbox-5", post, question))

    assert str(code) in str(raised.value)
    assert [m for m, _ in fake_vk.calls].count("wall.createComment") == 1


def test_too_many_replies_is_transient(
    fake_vk: FakeVk, source: VkSource, sleep: RecordingSleep
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    question = fake_vk.add_comment(GID, post, ALICE, "Вопрос")
    fake_vk.fail_next("wall.createComment", 223, times=RETRY.attempts)

    with pytest.raises(TransientSourceError):
        source.post_reply(reply("outbox-6", post, question))

    assert fake_vk.created == []
    assert len(sleep.pauses) == RETRY.attempts - 1
    fake_reply = source.post_reply(reply("outbox-6", post, question))
    assert fake_reply.external_id == str(fake_vk.created[0]["id"])


def test_reply_for_another_community_is_rejected(fake_vk: FakeVk, source: VkSource) -> None:
    other = OutgoingReply(
        outbox_id=2,
        idempotency_key="x",
        community=str(OTHER_GID),
        post_id="1",
        reply_to_id="2",
        text="Ответ",
    )

    with pytest.raises(ReplyRejectedError):
        source.post_reply(other)

    assert fake_vk.calls == []
