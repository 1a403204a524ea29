"""The fake VK server, driven through the real ``vk_api`` library, checked against VK's schema."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import vk_api
from jconfig.memory import MemoryConfig
from vk_api.bot_longpoll import VkBotLongPoll

from incident.sources.fakes import demo_data
from incident.sources.fakes.vk_server import ANY_CALL, FakeVk
from incident.sources.fakes.vk_world import ERROR_MESSAGES
from tests.vkschema import SchemaMismatchError, error_codes, validate_event, validate_response
from tests.world import VkGroup, VkSetup, VkToken, build_fake_vk, serve_fake_vk

GID = 501
OTHER_GID = 502
ANNA = 1001
BORIS = 1002
SERVICE = "service-token"
COMMUNITY = "community-token"
OTHER_COMMUNITY = "other-community-token"
USER = "user-token"

Api = Callable[[str], vk_api.VkApi]


SETUP = VkSetup(
    groups=(
        VkGroup(GID, "Комитет по защите прав потребителей", "zpp_test"),
        VkGroup(OTHER_GID, "Другое сообщество"),
    ),
    users={ANNA: ("Анна", "Соколова"), BORIS: ("Борис", "Лебедев")},
    tokens=(
        VkToken(SERVICE, "service"),
        VkToken(COMMUNITY, "community", GID),
        VkToken(OTHER_COMMUNITY, "community", OTHER_GID),
        VkToken(USER, "user", user_id=BORIS),
    ),
    longpoll_max_wait=2.0,
)


@pytest.fixture
def vk_setup() -> VkSetup:
    return SETUP


@pytest.fixture
def api(fake_vk: FakeVk) -> Iterator[Api]:
    sessions: list[requests.Session] = []

    def make(token: str) -> vk_api.VkApi:
        session = fake_vk.session()
        sessions.append(session)
        client = vk_api.VkApi(
            token=token, api_version="5.199", config=MemoryConfig, session=session
        )
        client.RPS_DELAY = 0  # vk_api sleeps 0.34 s between calls of one instance by default
        return client

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def longpoll(api: Api) -> Iterator[Callable[[int], VkBotLongPoll]]:
    polls: list[VkBotLongPoll] = []

    def make(wait: int = 1) -> VkBotLongPoll:
        poll = VkBotLongPoll(api(COMMUNITY), GID, wait=wait)
        polls.append(poll)
        return poll

    yield make
    for poll in polls:
        poll.session.close()


def comments(client: vk_api.VkApi, post_id: int, **values: Any) -> dict[str, Any]:
    result: dict[str, Any] = client.method(
        "wall.getComments", {"owner_id": -GID, "post_id": post_id, **values}
    )
    return result


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [int(item["id"]) for item in items]


def vk_error_code(call: Callable[[], object]) -> int:
    with pytest.raises(vk_api.ApiError) as info:
        call()
    return int(info.value.code)


# ----- reading the wall ----------------------------------------------------------------------


def test_wall_get_lists_posts_newest_first_counting_live_comments_and_replies(
    fake_vk: FakeVk, api: Api
) -> None:
    old = fake_vk.add_post(GID, "Старый пост", date=1_700_000_000)
    new = fake_vk.add_post(GID, "Новый пост", date=1_700_000_100)
    top = fake_vk.add_comment(GID, old, ANNA, "Вопрос")
    fake_vk.add_comment(GID, old, BORIS, "Ответ", reply_to_comment=top)
    gone = fake_vk.add_comment(GID, old, BORIS, "Удалю")
    fake_vk.delete_comment(GID, gone)

    wall = api(SERVICE).method("wall.get", {"owner_id": -GID, "count": 100})

    assert wall["count"] == 2
    assert [p["id"] for p in wall["items"]] == [new, old]
    assert [p["comments"]["count"] for p in wall["items"]] == [0, 2]
    assert wall["items"][1]["text"] == "Старый пост"


def test_posts_and_comments_of_a_community_share_one_increasing_id_sequence(
    fake_vk: FakeVk,
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    first = fake_vk.add_comment(GID, post, ANNA, "Раз")
    second_post = fake_vk.add_post(GID, "Ещё пост")
    second = fake_vk.add_comment(GID, second_post, ANNA, "Два")
    other_post = fake_vk.add_post(OTHER_GID, "Чужой пост")

    assert post < first < second_post < second
    assert other_post == 1  # numbering is per community


def test_get_comments_starts_at_start_comment_id_inclusive_and_offsets_from_it(
    fake_vk: FakeVk, api: Api
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    made = [fake_vk.add_comment(GID, post, ANNA, f"Комментарий {n}") for n in range(6)]
    client = api(SERVICE)

    page = comments(client, post, start_comment_id=made[2], count=2)
    shifted = comments(client, post, start_comment_id=made[2], offset=1, count=2)
    everything = comments(client, post, count=100)

    assert ids(page["items"]) == made[2:4]
    assert ids(shifted["items"]) == made[3:5]
    assert ids(everything["items"]) == made
    assert everything["current_level_count"] == 6


def test_get_comments_defaults_to_ten_oldest_first(fake_vk: FakeVk, api: Api) -> None:
    post = fake_vk.add_post(GID, "Пост")
    made = [fake_vk.add_comment(GID, post, ANNA, f"К{n}") for n in range(12)]

    page = comments(api(SERVICE), post)

    assert ids(page["items"]) == made[:10]
    assert page["count"] == 12


def test_get_comments_desc_walks_back_from_start_comment_id(fake_vk: FakeVk, api: Api) -> None:
    post = fake_vk.add_post(GID, "Пост")
    made = [fake_vk.add_comment(GID, post, ANNA, f"Комментарий {n}") for n in range(5)]

    page = comments(api(SERVICE), post, sort="desc", start_comment_id=made[3], count=3)

    assert ids(page["items"]) == [made[3], made[2], made[1]]


@pytest.mark.parametrize(
    "values",
    [{"count": 101}, {"thread_items_count": 11}, {"sort": "random"}, {"offset": -1}],
)
def test_get_comments_refuses_out_of_range_parameters_with_error_100(
    fake_vk: FakeVk, api: Api, values: dict[str, Any]
) -> None:
    post = fake_vk.add_post(GID, "Пост")

    assert vk_error_code(lambda: comments(api(SERVICE), post, **values)) == 100


def test_get_comments_of_an_unknown_post_is_error_100(fake_vk: FakeVk, api: Api) -> None:
    post = fake_vk.add_post(GID, "Пост")
    comment = fake_vk.add_comment(GID, post, ANNA, "Текст")

    assert vk_error_code(lambda: comments(api(SERVICE), comment)) == 100


def test_top_level_items_carry_their_thread_count_and_first_replies(
    fake_vk: FakeVk, api: Api
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    top = fake_vk.add_comment(GID, post, ANNA, "Вопрос")
    replies = [
        fake_vk.add_comment(GID, post, BORIS, f"Ответ {n}", reply_to_comment=top) for n in range(4)
    ]
    later = fake_vk.add_comment(GID, post, BORIS, "Отдельно")
    client = api(SERVICE)

    listed = comments(client, post, thread_items_count=3)
    bare = comments(client, post)

    assert ids(listed["items"]) == [top, later]
    assert listed["items"][0]["thread"]["count"] == 4
    assert ids(listed["items"][0]["thread"]["items"]) == replies[:3]
    assert listed["items"][1]["thread"]["count"] == 0
    assert bare["items"][0]["thread"]["items"] == []
    assert listed["count"] == 6
    assert listed["current_level_count"] == 2


def test_comment_id_lists_a_thread_and_a_reply_to_a_reply_joins_the_root_thread(
    fake_vk: FakeVk, api: Api
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    top = fake_vk.add_comment(GID, post, ANNA, "Вопрос")
    first = fake_vk.add_comment(GID, post, BORIS, "Ответ", reply_to_comment=top)
    nested = fake_vk.add_comment(GID, post, ANNA, "Ответ на ответ", reply_to_comment=first)

    thread = comments(api(SERVICE), post, comment_id=top, count=100)

    assert ids(thread["items"]) == [first, nested]
    assert thread["count"] == 2
    item = thread["items"][1]
    assert item["parents_stack"] == [top]
    assert item["reply_to_comment"] == first
    assert item["reply_to_user"] == BORIS
    assert "thread" not in item
    assert fake_vk.comment(GID, nested)["parents_stack"] == [top]


def test_deleted_comment_stays_as_a_placeholder_and_leaves_the_live_count(
    fake_vk: FakeVk, api: Api
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    kept = fake_vk.add_comment(GID, post, ANNA, "Остаётся")
    gone = fake_vk.add_comment(GID, post, BORIS, "Секретный текст")
    fake_vk.delete_comment(GID, gone)
    client = api(SERVICE)

    after_delete = comments(client, post, count=100)
    stored_while_deleted = fake_vk.comment(GID, gone)
    fake_vk.restore_comment(GID, gone)
    after_restore = comments(client, post, count=100)

    assert ids(after_delete["items"]) == [kept, gone]
    placeholder = after_delete["items"][1]
    assert placeholder["deleted"] is True
    assert placeholder["text"] == ""
    assert placeholder["from_id"] == 0
    assert after_delete["count"] == 1
    assert after_delete["current_level_count"] == 2
    assert stored_while_deleted["deleted"] is True
    assert stored_while_deleted["text"] == "Секретный текст"
    assert "deleted" not in after_restore["items"][1]
    assert after_restore["items"][1]["text"] == "Секретный текст"
    assert after_restore["count"] == 2


def test_extended_response_describes_every_author(fake_vk: FakeVk, api: Api) -> None:
    post = fake_vk.add_post(GID, "Пост")
    top = fake_vk.add_comment(GID, post, ANNA, "Вопрос")
    fake_vk.add_comment(GID, post, -GID, "Ответ сообщества", reply_to_comment=top)
    fake_vk.add_comment(GID, post, 777, "Неизвестный автор")

    page = comments(api(SERVICE), post, extended=1, thread_items_count=10)

    profiles = {p["id"]: p for p in page["profiles"]}
    assert profiles[ANNA]["first_name"] == "Анна"
    assert profiles[777]["deactivated"] == "deleted"
    assert [g["id"] for g in page["groups"]] == [GID]
    assert page["groups"][0]["name"] == "Комитет по защите прав потребителей"
    assert "profiles" not in comments(api(SERVICE), post)


def test_texts_are_cut_to_90_characters_unless_preview_length_is_zero(
    fake_vk: FakeVk, api: Api
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    text = "Очень длинная жалоба на магазин. " * 10
    fake_vk.add_comment(GID, post, ANNA, text)
    client = api(SERVICE)

    assert comments(client, post)["items"][0]["text"] == text[:90]
    assert comments(client, post, preview_length=20)["items"][0]["text"] == text[:20]
    assert comments(client, post, preview_length=0)["items"][0]["text"] == text


def test_need_likes_adds_likes(fake_vk: FakeVk, api: Api) -> None:
    post = fake_vk.add_post(GID, "Пост")
    fake_vk.add_comment(GID, post, ANNA, "Текст")

    assert comments(api(SERVICE), post, need_likes=1)["items"][0]["likes"]["count"] == 0
    assert "likes" not in comments(api(SERVICE), post)["items"][0]


def test_groups_get_by_id_answers_the_5_199_shape(fake_vk: FakeVk, api: Api) -> None:
    by_id = api(SERVICE).method("groups.getById", {"group_id": GID})
    by_ids = api(COMMUNITY).method("groups.getById", {"group_ids": f"zpp_test,{OTHER_GID}"})

    assert by_id["profiles"] == []
    assert [g["screen_name"] for g in by_id["groups"]] == ["zpp_test"]
    assert [g["id"] for g in by_ids["groups"]] == [GID, OTHER_GID]


# ----- replying ------------------------------------------------------------------------------


def test_community_reply_is_authored_by_the_community_and_joins_the_thread(
    fake_vk: FakeVk, api: Api
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    top = fake_vk.add_comment(GID, post, ANNA, "Вопрос")
    reply = fake_vk.add_comment(GID, post, BORIS, "Уточнение", reply_to_comment=top)

    result = api(COMMUNITY).method(
        "wall.createComment",
        {
            "owner_id": -GID,
            "post_id": post,
            "from_group": GID,
            "message": "Здравствуйте! Ответили в личных сообщениях.",
            "reply_to_comment": reply,
            "guid": "outbox-1",
        },
    )

    assert result["parents_stack"] == [top]
    stored = fake_vk.comment(GID, result["comment_id"])
    assert stored["from_id"] == -GID
    assert stored["reply_to_comment"] == reply
    assert stored["reply_to_user"] == BORIS
    assert [c["id"] for c in fake_vk.created] == [result["comment_id"]]
    assert fake_vk.events(GID)[-1]["object"]["id"] == result["comment_id"]


def test_reply_is_not_created_twice_when_the_guid_repeats(fake_vk: FakeVk, api: Api) -> None:
    post = fake_vk.add_post(GID, "Пост")
    top = fake_vk.add_comment(GID, post, ANNA, "Вопрос")
    client = api(COMMUNITY)
    values = {"owner_id": -GID, "post_id": post, "message": "Ответ", "reply_to_comment": top}

    first = client.method("wall.createComment", {**values, "guid": "same"})
    again = client.method("wall.createComment", {**values, "guid": "same"})
    other = client.method("wall.createComment", {**values, "guid": "different"})

    assert again == first
    assert other["comment_id"] != first["comment_id"]
    assert [c["id"] for c in fake_vk.created] == [first["comment_id"], other["comment_id"]]
    assert comments(api(SERVICE), post)["count"] == 3


def test_user_token_comments_as_the_user_or_as_the_group_it_names(
    fake_vk: FakeVk, api: Api
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    client = api(USER)

    as_user = client.method(
        "wall.createComment", {"owner_id": -GID, "post_id": post, "message": "Я"}
    )
    as_group = client.method(
        "wall.createComment",
        {"owner_id": -GID, "post_id": post, "message": "Мы", "from_group": GID},
    )

    assert fake_vk.comment(GID, as_user["comment_id"])["from_id"] == BORIS
    assert fake_vk.comment(GID, as_group["comment_id"])["from_id"] == -GID


@pytest.mark.parametrize("target", ["unknown post", "deleted comment", "empty message"])
def test_create_comment_refuses_bad_targets_with_error_100(
    fake_vk: FakeVk, api: Api, target: str
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    gone = fake_vk.add_comment(GID, post, ANNA, "Удалено")
    fake_vk.delete_comment(GID, gone)
    values: dict[str, Any] = {"owner_id": -GID, "post_id": post, "message": "Ответ"}
    if target == "unknown post":
        values["post_id"] = post + 100
    elif target == "deleted comment":
        values["reply_to_comment"] = gone
    else:
        values["message"] = "  "

    code = vk_error_code(lambda: api(COMMUNITY).method("wall.createComment", values))

    assert code == 100
    assert fake_vk.created == []


# ----- tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "method", "values", "code"),
    [
        ("no-such-token", "wall.get", {"owner_id": -GID}, 5),
        ("", "wall.get", {"owner_id": -GID}, 5),
        (COMMUNITY, "wall.get", {"owner_id": -GID}, 27),
        (COMMUNITY, "wall.getComments", {"owner_id": -GID, "post_id": 1}, 27),
        (SERVICE, "wall.createComment", {"owner_id": -GID, "post_id": 1, "message": "x"}, 28),
        (
            OTHER_COMMUNITY,
            "wall.createComment",
            {"owner_id": -GID, "post_id": 1, "message": "x"},
            15,
        ),
        (SERVICE, "groups.getLongPollServer", {"group_id": GID}, 28),
        (OTHER_COMMUNITY, "groups.getLongPollServer", {"group_id": GID}, 15),
        (SERVICE, "wall.post", {"owner_id": -GID}, 3),
    ],
)
def test_tokens_of_the_wrong_kind_are_refused_with_vk_codes(
    fake_vk: FakeVk, api: Api, token: str, method: str, values: dict[str, Any], code: int
) -> None:
    fake_vk.add_post(GID, "Пост")

    assert vk_error_code(lambda: api(token).method(method, values)) == code
    assert fake_vk.created == []


def test_error_body_echoes_request_params_without_the_token(fake_vk: FakeVk) -> None:
    with fake_vk.session() as session:
        body = session.post(
            "https://api.vk.ru/method/wall.get",
            data={"owner_id": -GID, "access_token": COMMUNITY, "v": "5.199"},
        ).json()

    shown = {p["key"]: p["value"] for p in body["error"]["request_params"]}
    assert body["error"]["error_code"] == 27
    assert shown["method"] == "wall.get"
    assert shown["owner_id"] == str(-GID)
    assert "access_token" not in shown


def test_every_error_code_the_fake_knows_is_named_in_vk_errors_json() -> None:
    assert set(ERROR_MESSAGES) <= error_codes()


def test_calls_record_each_method_with_its_params_but_no_token(fake_vk: FakeVk, api: Api) -> None:
    api(SERVICE).method("wall.get", {"owner_id": -GID, "count": 5})

    assert fake_vk.calls == [("wall.get", {"owner_id": str(-GID), "count": "5", "v": "5.199"})]


# ----- fault injection -----------------------------------------------------------------------


def test_fail_next_answers_a_vk_error_the_given_number_of_times_without_running(
    fake_vk: FakeVk, api: Api
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    client = api(COMMUNITY)
    values = {"owner_id": -GID, "post_id": post, "message": "Ответ"}
    fake_vk.fail_next("wall.createComment", 9, times=2)

    codes = [vk_error_code(lambda: client.method("wall.createComment", values)) for _ in "ab"]
    created = client.method("wall.createComment", values)

    assert codes == [9, 9]
    assert [c["id"] for c in fake_vk.created] == [created["comment_id"]]
    assert [name for name, _ in fake_vk.calls] == ["wall.createComment"] * 3


def test_a_fault_for_any_call_hits_whichever_call_comes_next_after_the_methods_own(
    fake_vk: FakeVk, api: Api
) -> None:
    fake_vk.add_post(GID, "Пост")
    client = api(SERVICE)
    fake_vk.fail_next(ANY_CALL, 9, times=2)
    fake_vk.fail_next("wall.get", 10)

    first = vk_error_code(lambda: client.method("wall.get", {"owner_id": -GID}))
    second = vk_error_code(lambda: client.method("groups.getById", {"group_id": GID}))
    third = vk_error_code(lambda: client.method("wall.get", {"owner_id": -GID}))
    client.method("wall.get", {"owner_id": -GID})

    assert (first, second, third) == (10, 9, 9)


def test_a_revoked_token_is_refused_with_error_5_for_good(fake_vk: FakeVk, api: Api) -> None:
    client = api(SERVICE)
    client.method("wall.get", {"owner_id": -GID})
    fake_vk.revoke_token(SERVICE)

    codes = [vk_error_code(lambda: client.method("wall.get", {"owner_id": -GID})) for _ in "ab"]

    assert codes == [5, 5]


def test_injected_captcha_error_reaches_vk_api_captcha_handling(fake_vk: FakeVk, api: Api) -> None:
    fake_vk.fail_next("wall.get", 14)

    with pytest.raises(vk_api.Captcha) as info:
        api(SERVICE).method("wall.get", {"owner_id": -GID})

    assert info.value.sid == "1234567890"


def test_http_error_next_fails_at_the_http_level_without_running(fake_vk: FakeVk, api: Api) -> None:
    post = fake_vk.add_post(GID, "Пост")
    client = api(COMMUNITY)
    values = {"owner_id": -GID, "post_id": post, "message": "Ответ"}
    fake_vk.http_error_next("wall.createComment", 503)

    with pytest.raises(vk_api.ApiHttpError) as info:
        client.method("wall.createComment", values)
    client.method("wall.createComment", values)

    assert info.value.response.status_code == 503
    assert len(fake_vk.created) == 1


def test_truncated_answer_still_creates_and_the_guid_retry_returns_it(
    fake_vk: FakeVk, api: Api
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    client = api(COMMUNITY)
    values = {"owner_id": -GID, "post_id": post, "message": "Ответ", "guid": "outbox-7"}
    fake_vk.truncate_next("wall.createComment")

    with pytest.raises(ValueError, match=r"Expecting|Unterminated|Invalid"):
        client.method("wall.createComment", values)
    retried = client.method("wall.createComment", values)

    assert [c["id"] for c in fake_vk.created] == [retried["comment_id"]]


def test_delay_next_holds_the_answer_back(fake_vk: FakeVk, api: Api) -> None:
    client = api(SERVICE)
    fake_vk.delay_next("wall.get", 0.4)

    started = time.monotonic()
    client.method("wall.get", {"owner_id": -GID})
    slow = time.monotonic() - started
    started = time.monotonic()
    client.method("wall.get", {"owner_id": -GID})
    fast = time.monotonic() - started

    assert slow >= 0.4
    assert fast < 0.4


def test_a_failing_validator_turns_the_answer_into_http_500_and_is_recorded() -> None:
    def refuse(method: str, body: Any) -> None:
        raise SchemaMismatchError(f"{method} is not allowed here")

    with (
        serve_fake_vk(SETUP, validator=refuse, event_validator=None) as fake_vk,
        fake_vk.session() as session,
    ):
        client = vk_api.VkApi(
            token=SERVICE, api_version="5.199", config=MemoryConfig, session=session
        )
        with pytest.raises(vk_api.ApiHttpError) as info:
            client.method("wall.get", {"owner_id": -GID})
        assert vk_error_code(lambda: client.method("wall.get", {"owner_id": -1})) == 100

    assert info.value.response.status_code == 500
    assert fake_vk.schema_errors == ["wall.get: wall.get is not allowed here"]


def test_the_validator_rejects_what_vk_schema_forbids() -> None:
    with pytest.raises(SchemaMismatchError, match="comment_id"):
        validate_response("wall.createComment", {"response": {"parents_stack": []}})
    with pytest.raises(SchemaMismatchError, match="user_id"):
        validate_event(
            {
                "type": "wall_reply_delete",
                "group_id": GID,
                "event_id": "ab",
                "v": "5.199",
                "object": {"owner_id": -GID, "id": 5, "post_id": 1},
            }
        )


# ----- long poll -----------------------------------------------------------------------------


def later(seconds: float, action: Callable[[], object]) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_long_poll_wakes_as_soon_as_a_comment_arrives(
    fake_vk: FakeVk, longpoll: Callable[[int], VkBotLongPoll]
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    poll = longpoll(25)
    timer = later(0.2, lambda: fake_vk.add_comment(GID, post, ANNA, "Новый комментарий"))

    started = time.monotonic()
    events = poll.check()
    waited = time.monotonic() - started
    timer.join()

    assert [e.type.value for e in events] == ["wall_reply_new"]
    assert events[0].object["text"] == "Новый комментарий"
    assert events[0].object["post_id"] == post
    assert events[0].group_id == GID
    assert 0.15 < waited < 1.5


def test_long_poll_delivers_edit_delete_and_restore_once_each_in_order(
    fake_vk: FakeVk, longpoll: Callable[[int], VkBotLongPoll]
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    poll = longpoll(1)
    comment = fake_vk.add_comment(GID, post, ANNA, "Было")
    fake_vk.edit_comment(GID, comment, "Стало")
    fake_vk.delete_comment(GID, comment, deleter_id=BORIS)
    fake_vk.restore_comment(GID, comment)

    events = poll.check()
    nothing = poll.check()

    assert [e.raw["type"] for e in events] == [
        "wall_reply_new",
        "wall_reply_edit",
        "wall_reply_delete",
        "wall_reply_restore",
    ]
    assert events[1].object["text"] == "Стало"
    assert events[2].raw["object"] == {
        "owner_id": -GID,
        "id": comment,
        "deleter_id": BORIS,
        "user_id": BORIS,
        "post_id": post,
    }
    assert len({e.raw["event_id"] for e in events}) == 4
    assert nothing == []


def test_long_poll_without_events_answers_after_the_capped_wait() -> None:
    with serve_fake_vk(SETUP, longpoll_max_wait=0.3) as quick, quick.session() as session:
        client = vk_api.VkApi(
            token=COMMUNITY, api_version="5.199", config=MemoryConfig, session=session
        )
        poll = VkBotLongPoll(client, GID, wait=25)
        started = time.monotonic()
        try:
            events = poll.check()
        finally:
            poll.session.close()

    assert events == []
    assert 0.25 < time.monotonic() - started < 3


def test_long_poll_ts_is_a_string_that_moves_with_events(fake_vk: FakeVk, api: Api) -> None:
    post = fake_vk.add_post(GID, "Пост")
    server = api(COMMUNITY).method("groups.getLongPollServer", {"group_id": GID})
    fake_vk.add_comment(GID, post, ANNA, "Раз")

    body = requests.get(
        server["server"],
        params={"act": "a_check", "key": server["key"], "ts": server["ts"], "wait": 0},
        timeout=5,
    ).json()

    assert isinstance(server["ts"], str)
    assert isinstance(body["ts"], str)
    assert int(body["ts"]) == int(server["ts"]) + 1
    assert server["server"] == f"{fake_vk.url}longpoll/{GID}"


def test_long_poll_with_a_wrong_key_answers_failed_2(fake_vk: FakeVk, api: Api) -> None:
    server = api(COMMUNITY).method("groups.getLongPollServer", {"group_id": GID})

    body = requests.get(
        server["server"],
        params={"act": "a_check", "key": "stale", "ts": server["ts"], "wait": 0},
        timeout=5,
    ).json()

    assert body == {"failed": 2}


def test_long_poll_ts_older_than_the_kept_history_answers_failed_1() -> None:
    with serve_fake_vk(SETUP, event_validator=None) as fake_vk:  # 1000+ events: not validated
        post = fake_vk.add_post(GID, "Пост")
        with fake_vk.session() as session:
            client = vk_api.VkApi(
                token=COMMUNITY, api_version="5.199", config=MemoryConfig, session=session
            )
            server = client.method("groups.getLongPollServer", {"group_id": GID})
        comment = fake_vk.add_comment(GID, post, ANNA, "Текст")
        for n in range(1000):
            fake_vk.edit_comment(GID, comment, f"Правка {n}")
        with requests.get(
            server["server"],
            params={"act": "a_check", "key": server["key"], "ts": server["ts"], "wait": 0},
            timeout=5,
        ) as response:
            body = response.json()

    assert body == {"failed": 1, "ts": "1001"}
    assert len(fake_vk.events(GID)) == 1000


def test_long_poll_failed_1_skips_to_the_current_ts(
    fake_vk: FakeVk, longpoll: Callable[[int], VkBotLongPoll]
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    poll = longpoll(1)
    fake_vk.add_comment(GID, post, ANNA, "Потерянный")
    fake_vk.longpoll_fail_next(1)

    lost = poll.check()
    fake_vk.add_comment(GID, post, ANNA, "Следующий")
    after = poll.check()

    assert lost == []
    assert [e.object["text"] for e in after] == ["Следующий"]


@pytest.mark.parametrize(("failed", "keeps_ts"), [(2, True), (3, False)])
def test_long_poll_failed_2_and_3_make_the_client_fetch_a_new_key(
    fake_vk: FakeVk, longpoll: Callable[[int], VkBotLongPoll], failed: int, keeps_ts: bool
) -> None:
    post = fake_vk.add_post(GID, "Пост")
    poll = longpoll(1)
    old_key = poll.key
    fake_vk.add_comment(GID, post, ANNA, "Во время сбоя")
    fake_vk.longpoll_fail_next(failed)  # type: ignore[arg-type]

    assert poll.check() == []
    events = poll.check()

    assert poll.key != old_key
    assert [name for name, _ in fake_vk.calls].count("groups.getLongPollServer") == 2
    assert [e.object["text"] for e in events] == (["Во время сбоя"] if keeps_ts else [])


def test_long_poll_http_error_truncation_and_delay_are_injectable(
    fake_vk: FakeVk, api: Api
) -> None:
    server = api(COMMUNITY).method("groups.getLongPollServer", {"group_id": GID})
    params = {"act": "a_check", "key": server["key"], "ts": server["ts"], "wait": 0}
    fake_vk.http_error_next("longpoll", 500)
    fake_vk.truncate_next("longpoll")
    fake_vk.delay_next("longpoll", 0.3)

    with requests.Session() as session:
        started = time.monotonic()
        broken = session.get(server["server"], params=params, timeout=5)
        cut = session.get(server["server"], params=params, timeout=5)
        fine = session.get(server["server"], params=params, timeout=5)

    assert broken.status_code == 500
    assert time.monotonic() - started >= 0.3
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    assert fine.json() == {"ts": server["ts"], "updates": []}


def test_stop_wakes_a_blocked_long_poll_and_is_idempotent() -> None:
    fake_vk = build_fake_vk(SETUP, longpoll_max_wait=25)
    fake_vk.start()
    with fake_vk.session() as session:
        client = vk_api.VkApi(
            token=COMMUNITY, api_version="5.199", config=MemoryConfig, session=session
        )
        server = client.method("groups.getLongPollServer", {"group_id": GID})
    answers: list[Any] = []

    def wait_for_events() -> None:
        params = {"act": "a_check", "key": server["key"], "ts": server["ts"], "wait": 25}
        with requests.get(server["server"], params=params, timeout=30) as response:
            answers.append(response.json())

    waiter = threading.Thread(target=wait_for_events)
    waiter.start()
    time.sleep(0.3)
    started = time.monotonic()
    fake_vk.stop()
    fake_vk.stop()
    waiter.join(timeout=10)

    assert time.monotonic() - started < 5
    assert answers == [{"ts": server["ts"], "updates": []}]


# ----- demo data -----------------------------------------------------------------------------


def test_demo_seed_builds_a_realistic_community_that_a_sweep_can_read(
    fake_vk: FakeVk, api: Api
) -> None:
    now = 1_790_000_000.0
    demo_gid = 77
    demo_data.seed_demo(fake_vk, demo_gid, random.Random(5), now)
    fake_vk.add_token("demo-service", "service")
    client = api("demo-service")

    wall = client.method("wall.get", {"owner_id": -demo_gid, "count": 100})
    found: list[dict[str, Any]] = []
    for post in wall["items"]:
        page = client.method(
            "wall.getComments",
            {
                "owner_id": -demo_gid,
                "post_id": post["id"],
                "count": 100,
                "extended": 1,
                "thread_items_count": 10,
                "preview_length": 0,
            },
        )
        for top in page["items"]:
            found.append(top)
            found.extend(top["thread"]["items"])
    group = client.method("groups.getById", {"group_id": demo_gid})["groups"][0]

    assert group["name"] == "Комитет по защите прав потребителей"
    assert 4 <= wall["count"] <= 5
    assert 35 <= len(found) <= 50
    assert sum(p["comments"]["count"] for p in wall["items"]) == len(found)
    assert all(now - 2 * 86400 <= c["date"] < now for c in found)
    assert all(now - 2 * 86400 <= p["date"] < now for p in wall["items"])
    assert sum(1 for c in found if c["from_id"] == -demo_gid) >= 2
    assert sum(1 for c in found if c.get("reply_to_comment")) >= 8
    assert any("http" in c["text"] for c in found)
    by_id = sorted(found, key=lambda c: c["id"])
    assert [c["date"] for c in by_id] == sorted(c["date"] for c in found)
    assert fake_vk.post_ids(demo_gid) == sorted(p["id"] for p in wall["items"])
    authors = {c["from_id"] for c in found if c["from_id"] > 0}
    assert authors <= set(fake_vk.user_ids())


def test_random_comment_gives_varied_russian_texts() -> None:
    rng = random.Random(11)

    texts = [demo_data.random_comment(rng) for _ in range(50)]

    assert len(set(texts)) >= 30
    assert all(any("а" <= ch <= "я" for ch in text.lower()) for text in texts)
    assert all(10 < len(text) < 400 for text in texts)
