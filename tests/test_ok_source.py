"""The OK source against the fake OK over HTTP: sweeps with per-post cursors, replies, faults."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from incident.config import WorkerConfig
from incident.models import Batch, ChangeKind, CommentChange, OutgoingReply, Platform
from incident.sources.base import (
    PermanentSourceError,
    ReplyRejectedError,
    Source,
    TransientSourceError,
)
from incident.sources.fakes.ok_server import FakeOk
from incident.sources.ok import OkClient, OkSource, build, comment_link, post_link
from incident.sources.ok.config import OkSourceConfig
from incident.sources.ok.wire import Post, PostCursor
from incident.sources.registry import PLATFORMS, title
from incident.wiring import load_config
from tests.okworld import ADMIN, CITIZENS, GID, GROUP_NAME, TOKEN, at, ok_source, serve_fake_ok

ANNA, BORIS = CITIZENS[1], CITIZENS[2]


@pytest.fixture
def fake() -> Iterator[FakeOk]:
    with serve_fake_ok() as server:
        yield server


@pytest.fixture
def source(fake: FakeOk) -> Iterator[OkSource]:
    with ok_source(fake) as s:
        yield s


def sweep(
    source: Source, cursors: Mapping[str, str] | None = None
) -> tuple[list[CommentChange], dict[str, str], int]:
    """Run a sweep; the changes, the cursors as a caller would store them, the API calls."""
    stored = dict(cursors or {})
    batches: list[Batch] = list(source.sweep(stored))
    for batch in batches:
        stored.update(batch.cursors)
    changes = [c for b in batches for c in b.changes]
    return changes, stored, sum(b.api_calls for b in batches)


def texts(changes: list[CommentChange]) -> list[str]:
    return [c.comment.text for c in changes if c.comment is not None]


def reply_to(post: str, comment: str, text: str = "Здравствуйте! Разберёмся.") -> OutgoingReply:
    return OutgoingReply(
        outbox_id=1,
        idempotency_key="k-1",
        community=GID,
        post_id=post,
        reply_to_id=comment,
        text=text,
    )


def test_ok_source_satisfies_the_source_protocol(source: OkSource) -> None:
    typed: Source = source
    assert (typed.name, typed.platform) == ("ok-test", Platform.OK)


def test_first_sweep_takes_every_comment_in_time_order(fake: FakeOk, source: OkSource) -> None:
    first = fake.add_post(GID, "Первый пост", at=at("2026-11-01 10:00:00"))
    second = fake.add_post(GID, "Второй пост", at=at("2026-11-02 10:00:00"))
    fake.add_post(GID, "Пост без комментариев")
    fake.add_comment(first, ANNA, "раз", at=at("2026-11-01 11:00:00"))
    fake.add_comment(first, BORIS, "два", at=at("2026-11-01 12:00:00"))
    fake.add_comment(second, ANNA, "три", at=at("2026-11-02 11:00:00"))
    changes, cursors, calls = sweep(source)
    assert texts(changes) == ["раз", "два", "три"]
    assert {c.kind for c in changes} == {ChangeKind.NEW}
    assert [c.post_id for c in changes] == [first, first, second]
    assert set(cursors) == {f"post:{first}", f"post:{second}"}
    # stream.get + mediatopic.getByIds, then one page per post that has comments
    assert calls == 4
    assert fake.count("discussions.getComments") == 2


def test_a_sweep_with_nothing_new_costs_two_calls(fake: FakeOk, source: OkSource) -> None:
    post = fake.add_post(GID, "Пост")
    fake.add_comment(post, ANNA, "Вопрос")
    _, cursors, _ = sweep(source)
    changes, _, calls = sweep(source, cursors)
    assert (changes, calls) == ([], 2)
    assert fake.count("discussions.getComments") == 1


def test_catch_up_from_stored_cursors_returns_only_new_comments(fake: FakeOk) -> None:
    post = fake.add_post(GID, "Пост")
    for n in range(3):
        fake.add_comment(post, ANNA, f"старый {n}")
    with ok_source(fake) as before_downtime:
        _, cursors, _ = sweep(before_downtime)
    fake.add_comment(post, BORIS, "новый 1")
    other = fake.add_post(GID, "Пост во время простоя")
    fake.add_comment(other, ANNA, "новый 2")
    with ok_source(fake) as restarted:  # a new instance with the stored cursors
        changes, _, _ = sweep(restarted, cursors)
    assert texts(changes) == ["новый 1", "новый 2"]


def test_sweep_pages_through_more_than_one_hundred_comments(fake: FakeOk, source: OkSource) -> None:
    post = fake.add_post(GID, "Популярный пост")
    for n in range(250):
        fake.add_comment(post, CITIZENS[1 + n % 3], f"комментарий {n}")
    changes, cursors, _ = sweep(source)
    assert texts(changes) == [f"комментарий {n}" for n in range(250)]
    assert fake.count("discussions.getComments") == 3
    fake.add_comment(post, ANNA, "ещё один")
    changes, _, _ = sweep(source, cursors)
    assert texts(changes) == ["ещё один"]
    assert fake.count("discussions.getComments") == 4  # resumed from the anchor: one page


def test_comments_in_the_same_second_are_each_taken_once(fake: FakeOk, source: OkSource) -> None:
    post = fake.add_post(GID, "Пост")
    second = at("2026-11-20 12:00:00")
    fake.add_comment(post, ANNA, "a", at=second)
    fake.add_comment(post, BORIS, "b", at=second)
    _, cursors, _ = sweep(source)
    fake.add_comment(post, ANNA, "c", at=second)
    changes, cursors, _ = sweep(source, cursors)
    assert texts(changes) == ["c"]
    assert len(PostCursor.parse(cursors[f"post:{post}"]).ids) == 3  # type: ignore[union-attr]


def test_moscow_dates_become_aware_utc_times(fake: FakeOk, source: OkSource) -> None:
    post = fake.add_post(GID, "Пост")
    fake.add_comment(post, ANNA, "Вопрос", at=at("2026-11-20 12:30:05"))
    [change], _, _ = sweep(source)
    assert change.comment is not None
    assert change.comment.raw["date"] == "2026-11-20 12:30:05"
    assert change.comment.created_at == datetime(2026, 11, 20, 9, 30, 5, tzinfo=UTC)


def test_a_comment_carries_its_author_text_and_post(fake: FakeOk, source: OkSource) -> None:
    post = fake.add_post(GID, "Пост")
    cid = fake.add_comment(post, ANNA, "Магазин не вернул деньги")
    [change], _, _ = sweep(source)
    comment = change.comment
    assert comment is not None
    assert (comment.external_id, comment.post_id, comment.community) == (cid, post, GID)
    assert (comment.author_id, comment.author_name) == (ANNA, "Анна Петрова")
    assert (comment.from_community, comment.reply_to_id, comment.thread_root_id) == (
        False,
        None,
        None,
    )


def test_the_groups_own_answer_is_from_the_community_and_replies_into_the_thread(
    fake: FakeOk, source: OkSource
) -> None:
    post = fake.add_post(GID, "Пост")
    question = fake.add_comment(post, ANNA, "Куда жаловаться?")
    _, cursors, _ = sweep(source)
    answer = fake.add_group_answer(post, "Напишите нам", reply_to=question)
    follow_up = fake.add_comment(post, ANNA, "Написала", reply_to=answer)
    changes, cursors, _ = sweep(source, cursors)
    group, citizen = (c.comment for c in changes)
    assert group is not None
    assert citizen is not None
    assert (group.from_community, group.author_id, group.author_name) == (True, GID, GROUP_NAME)
    assert (group.reply_to_id, group.thread_root_id) == (question, question)
    assert (citizen.reply_to_id, citizen.thread_root_id) == (answer, question)
    # a later reply to the follow-up still finds the thread's first comment
    fake.add_comment(post, BORIS, "И мне", reply_to=follow_up)
    [late], _, _ = sweep(source, cursors)
    assert late.comment is not None
    assert late.comment.thread_root_id == question


def test_deleted_comments_just_stop_appearing(fake: FakeOk, source: OkSource) -> None:
    post = fake.add_post(GID, "Пост")
    kept = fake.add_comment(post, ANNA, "останется")
    gone = fake.add_comment(post, BORIS, "удалят")
    fake.delete_comment(gone)
    changes, cursors, _ = sweep(source)
    assert [c.external_id for c in changes] == [kept]
    fake.delete_comment(kept)  # the count drops: nothing to report, the cursor follows
    changes, cursors, _ = sweep(source, cursors)
    assert changes == []
    assert sweep(source, cursors)[2] == 2


def test_an_anchor_ok_no_longer_accepts_falls_back_to_the_first_comment(
    fake: FakeOk, source: OkSource
) -> None:
    post = fake.add_post(GID, "Пост")
    fake.add_comment(post, ANNA, "старый")
    _, cursors, _ = sweep(source)
    broken = PostCursor.parse(cursors[f"post:{post}"])
    assert broken is not None
    broken.anchor = "not-an-anchor"
    fake.add_comment(post, BORIS, "новый")
    changes, _, _ = sweep(source, {f"post:{post}": broken.dump()})
    assert texts(changes) == ["новый"]


def test_an_unreadable_cursor_reads_the_post_from_the_start(fake: FakeOk, source: OkSource) -> None:
    post = fake.add_post(GID, "Пост")
    fake.add_comment(post, ANNA, "Вопрос")
    changes, _, _ = sweep(source, {f"post:{post}": "{broken"})
    assert texts(changes) == ["Вопрос"]


def test_the_post_listing_can_be_swapped(fake: FakeOk) -> None:
    post = fake.add_post(GID, "Пост")
    fake.add_comment(post, ANNA, "Вопрос")

    def listing(client: OkClient, group: str, count: int) -> list[Post]:
        return [Post(id=post, comments=1)]

    with ok_source(fake, list_posts=listing) as source:
        changes, _, calls = sweep(source)
    assert texts(changes) == ["Вопрос"]
    assert (calls, fake.count("stream.get")) == (1, 0)


def test_transient_faults_inside_a_sweep_are_retried(fake: FakeOk, source: OkSource) -> None:
    post = fake.add_post(GID, "Пост")
    fake.add_comment(post, ANNA, "Вопрос")
    fake.fail_next("stream.get", 2)
    fake.http_error_next("mediatopic.getByIds", 503)
    fake.truncate_next("discussions.getComments")
    changes, _, calls = sweep(source)
    assert texts(changes) == ["Вопрос"]
    assert calls == 6


def test_a_revoked_token_stops_the_source(fake: FakeOk, source: OkSource) -> None:
    fake.revoke_token(TOKEN)
    with pytest.raises(PermanentSourceError, match="access_token"):
        sweep(source)


def test_there_is_no_push_channel(source: OkSource) -> None:
    assert source.listen_once({}) == Batch()


# -- replies ---------------------------------------------------------------------------------


def test_a_reply_is_posted_as_the_group_under_the_comment(fake: FakeOk, source: OkSource) -> None:
    post = fake.add_post(GID, "Пост")
    question = fake.add_comment(post, ANNA, "Где вернуть товар?")
    posted = source.post_reply(reply_to(post, question, "Здравствуйте! Напишите нам 🙂"))
    [made] = fake.created
    assert (made["author_type"], made["author_id"]) == ("GROUP", GID)
    assert (made["reply_to_comment_id"], made["text"]) == (
        question,
        "Здравствуйте! Напишите нам 🙂",
    )
    assert posted.external_id == made["id"]
    assert posted.url == comment_link(GID, post, made["id"], None)


def test_a_reply_whose_answer_was_lost_is_posted_once(fake: FakeOk, source: OkSource) -> None:
    post = fake.add_post(GID, "Пост")
    question = fake.add_comment(post, ANNA, "Вопрос")
    fake.truncate_next("discussions.addDiscussionComment")
    posted = source.post_reply(reply_to(post, question))
    assert [c["id"] for c in fake.created] == [posted.external_id]
    assert fake.count("discussions.addDiscussionComment") == 1


def test_a_reply_that_timed_out_is_posted_once(fake: FakeOk) -> None:
    post = fake.add_post(GID, "Пост")
    question = fake.add_comment(post, ANNA, "Вопрос")
    fake.delay_next("discussions.addDiscussionComment", 0.6)
    with ok_source(fake, http_timeout=0.3) as source:
        posted = source.post_reply(reply_to(post, question))
    assert [c["id"] for c in fake.created] == [posted.external_id]


def test_resending_a_reply_another_worker_posted_does_not_post_it_again(fake: FakeOk) -> None:
    post = fake.add_post(GID, "Пост")
    question = fake.add_comment(post, ANNA, "Вопрос")
    with ok_source(fake) as first_worker:
        first = first_worker.post_reply(reply_to(post, question))
    with ok_source(fake) as second_worker:  # the first died before recording it
        again = second_worker.post_reply(reply_to(post, question))
    assert again.external_id == first.external_id
    assert len(fake.created) == 1


def test_a_reply_lost_every_time_gives_up_as_transient(fake: FakeOk, source: OkSource) -> None:
    post = fake.add_post(GID, "Пост")
    question = fake.add_comment(post, ANNA, "Вопрос")
    fake.refuse_replies(None)
    fake.http_error_next("discussions.addDiscussionComment", 502, times=4)
    with pytest.raises(TransientSourceError):
        source.post_reply(reply_to(post, question))
    assert fake.created == []


@pytest.mark.parametrize("code", [3, 10, 200, 50])
def test_a_refused_reply_tells_staff_to_answer_by_hand_with_a_link(
    fake: FakeOk, source: OkSource, code: int
) -> None:
    post = fake.add_post(GID, "Пост")
    question = fake.add_comment(post, ANNA, "Вопрос")
    fake.refuse_replies(code)
    with pytest.raises(ReplyRejectedError) as caught:
        source.post_reply(reply_to(post, question))
    link = comment_link(GID, post, question, None)
    assert str(caught.value) == (
        f"Одноклассники не принимают ответ через API: ответьте вручную по ссылке {link}"
    )
    assert fake.created == []


def test_a_reply_to_a_deleted_comment_is_rejected(fake: FakeOk, source: OkSource) -> None:
    post = fake.add_post(GID, "Пост")
    question = fake.add_comment(post, ANNA, "Вопрос")
    fake.delete_comment(question)
    with pytest.raises(ReplyRejectedError, match="700"):
        source.post_reply(reply_to(post, question))


def test_a_reply_refused_by_the_censor_says_to_change_the_text(
    fake: FakeOk, source: OkSource
) -> None:
    post = fake.add_post(GID, "Пост")
    question = fake.add_comment(post, ANNA, "Вопрос")
    fake.fail_next("discussions.addDiscussionComment", 454)
    with pytest.raises(ReplyRejectedError, match="измените текст"):
        source.post_reply(reply_to(post, question))


def test_a_reply_for_another_group_is_rejected(fake: FakeOk, source: OkSource) -> None:
    post = fake.add_post(GID, "Пост")
    wrong = OutgoingReply(1, "k", "123", post, "c", "Ответ")
    with pytest.raises(ReplyRejectedError, match="123"):
        source.post_reply(wrong)


# -- configuration, links, registry ----------------------------------------------------------

OK_TABLE = f"""
[[sources]]
name = "ok-main"
platform = "ok"
group_id = {GID}
application_key = "CBAJKLMNEBABABABA"
"""
OK_SECRETS = {
    "INCIDENT_OK_MAIN_APPLICATION_SECRET_KEY": "app-secret-value",
    "INCIDENT_OK_MAIN_ACCESS_TOKEN": "tkn1-access-token-value",
}


def test_an_ok_source_is_configured_from_its_table_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(OK_TABLE, encoding="utf-8")
    cfg = load_config(path, environ=OK_SECRETS).source("ok-main")
    assert isinstance(cfg, OkSourceConfig)
    assert (cfg.group_id, cfg.community, cfg.listens) == (int(GID), GID, False)
    assert cfg.access_token.value == "tkn1-access-token-value"
    summary = cfg.summary()
    assert "polled" in summary
    assert "tkn1-access-token-value" not in summary
    assert "app-secret-value" not in summary
    assert cfg.private_link == f"https://ok.ru/group/{GID}/messages"
    source = build(cfg, WorkerConfig())
    assert isinstance(source, OkSource)
    source.close()


def test_a_token_written_into_the_config_file_is_refused(tmp_path: Path) -> None:
    from incident.config import ConfigError

    path = tmp_path / "config.toml"
    path.write_text(OK_TABLE + 'access_token = "tkn1"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="access_token_env"):
        load_config(path, environ=OK_SECRETS)


def test_a_missing_secret_names_the_variable(tmp_path: Path) -> None:
    from incident.config import ConfigError

    path = tmp_path / "config.toml"
    path.write_text(OK_TABLE, encoding="utf-8")
    with pytest.raises(ConfigError, match="INCIDENT_OK_MAIN_ACCESS_TOKEN"):
        load_config(path, environ={"INCIDENT_OK_MAIN_APPLICATION_SECRET_KEY": "x"})


def test_ok_is_registered_with_its_russian_title_and_links() -> None:
    assert title("ok") == "Одноклассники"
    assert PLATFORMS["ok"].post_link(GID, "153") == f"https://ok.ru/group/{GID}/topic/153"
    assert post_link(GID, "not-a-number") is None
    assert ADMIN != GID  # the token's owner is a person; replies are signed as the group


def test_the_contract_harness_drives_the_fake_and_a_source() -> None:
    from tests.contract.harness import PlatformHarness
    from tests.contract.ok import ok_harness

    with ok_harness() as harness:
        typed: PlatformHarness = harness
        post = typed.publish_post("Пост")
        question = typed.citizen_comment(post, "Вопрос", author=2)
        typed.inject_fault("rate_limit")
        typed.inject_fault("malformed")
        with typed.new_source() as source:
            changes, _, _ = sweep(source)
            assert [c.external_id for c in changes] == [question]
            source.post_reply(OutgoingReply(1, "k", harness.group_id, post, question, "Ответ"))
        [posted] = typed.posted()
        assert (posted.post_id, posted.reply_to_id) == (post, question)
