"""The OK client: OK's request signature, errors read from HTTP-200 bodies, bounded retry.

Every call goes over real HTTP to the fake OK, which checks signatures as OK does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from incident.sources.base import PermanentSourceError, TransientSourceError
from incident.sources.fakes.ok_server import FakeOk
from incident.sources.ok import OkClient, RetryPolicy, sign
from incident.sources.ok.client import OkAmbiguous, OkRefusal
from tests.okworld import APP_KEY, APP_SECRET, GID, TOKEN, RecordingSleep, TopOfRange, serve_fake_ok

# docs/platforms.md: the published vector (recomputed from a third-party client's docs).
VECTOR_TOKEN = "-s-84W-s3egarWUsbkq-IWTucuedzTKT8VUXIA.s4Xx8IW7"
VECTOR_SECRET = "ABC123DEF456GHI789JKL123"
VECTOR_PARAMS = {"application_key": "ABCDEFGHIGKLMNOPK", "format": "json", "method": "events.get"}


@pytest.fixture
def fake() -> Iterator[FakeOk]:
    with serve_fake_ok() as server:
        yield server


class Clients:
    def __init__(self, fake: FakeOk) -> None:
        self.fake = fake
        self.sleep = RecordingSleep()
        self.made: list[OkClient] = []

    def __call__(self, **overrides: Any) -> OkClient:
        options: dict[str, Any] = {
            "application_key": APP_KEY,
            "application_secret_key": APP_SECRET,
            "access_token": TOKEN,
            "base_url": self.fake.url,
            "retry": RetryPolicy(attempts=5, initial=1.0, maximum=4.0),
            "sleep": self.sleep,
            "rng": TopOfRange(),
            "timeout": 2.0,
        }
        options.update(overrides)
        client = OkClient(**options)
        self.made.append(client)
        return client


@pytest.fixture
def clients(fake: FakeOk) -> Iterator[Clients]:
    factory = Clients(fake)
    yield factory
    for client in factory.made:
        client.close()


def list_posts(client: OkClient) -> Any:
    return client.call("stream.get", {"gid": GID, "patterns": "POST", "count": 5})


def test_signature_matches_the_published_vector() -> None:
    session_secret = hashlib.md5(
        (VECTOR_TOKEN + VECTOR_SECRET).encode(), usedforsecurity=False
    ).hexdigest()
    assert session_secret == "b1a2b89707a94624c43afae67d59274c"
    assert sign(VECTOR_PARAMS, VECTOR_TOKEN, VECTOR_SECRET) == "232c8eb921951c4dba9b72606f9ddb4c"


def test_signature_leaves_out_the_token_the_session_key_and_the_sig_itself() -> None:
    noisy = {**VECTOR_PARAMS, "access_token": "x", "session_key": "y", "sig": "z"}
    assert sign(noisy, VECTOR_TOKEN, VECTOR_SECRET) == "232c8eb921951c4dba9b72606f9ddb4c"


def test_signature_hashes_a_cyrillic_parameter_as_utf8() -> None:
    params = {**VECTOR_PARAMS, "comment": "Здравствуйте! Разберёмся."}
    secret = "b1a2b89707a94624c43afae67d59274c"
    joined = "".join(f"{k}={params[k]}" for k in sorted(params)) + secret
    assert (
        sign(params, VECTOR_TOKEN, VECTOR_SECRET)
        == hashlib.md5(joined.encode(), usedforsecurity=False).hexdigest()
    )


def test_the_fake_accepts_our_signature_on_a_cyrillic_reply(fake: FakeOk, clients: Clients) -> None:
    post = fake.add_post(GID, "Пост")
    citizen = fake.add_comment(post, "910000000001", "Где вернуть деньги?")
    text = "Здравствуйте! Напишите нам, ёлки-палки, разберёмся 🙂"
    clients().call(
        "discussions.addDiscussionComment",
        {
            "entityId": post,
            "entityType": "GROUP_TOPIC",
            "comment": text,
            "reply_to_comment_id": citizen,
            "as_admin": True,
        },
        write=True,
    )
    assert [c["text"] for c in fake.created] == [text]


def test_a_wrong_secret_key_is_a_permanent_error_that_names_the_keys(clients: Clients) -> None:
    with pytest.raises(PermanentSourceError, match="104") as caught:
        list_posts(clients(application_secret_key="NOT-THE-SECRET"))
    assert "application_secret_key" in str(caught.value)
    assert clients.sleep.pauses == []


def test_a_revoked_token_is_a_permanent_error_asking_for_a_new_token(
    fake: FakeOk, clients: Clients
) -> None:
    fake.revoke_token(TOKEN)
    with pytest.raises(PermanentSourceError, match="102") as caught:
        list_posts(clients())
    assert "access_token" in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("code", [102, 103, 104, 10, 200, 50, 453, 511, 514])
def test_codes_that_need_a_person_stop_at_once(fake: FakeOk, clients: Clients, code: int) -> None:
    fake.fail_next("stream.get", code)
    with pytest.raises(PermanentSourceError, match=f"ошибкой {code} ") as caught:
        list_posts(clients())
    assert (
        "Проверьте" in str(caught.value)
        or "ыпустите" in str(caught.value)
        or ("войдите" in str(caught.value).lower())
    )
    assert fake.count("stream.get") == 1


def test_errors_are_read_from_http_200_bodies_by_their_error_code(
    fake: FakeOk, clients: Clients
) -> None:
    fake.fail_next("stream.get", 454)
    with pytest.raises(OkRefusal) as caught:
        list_posts(clients())
    assert caught.value.code == 454


def test_a_caller_may_take_a_stop_code_as_a_refusal_of_its_one_call(
    fake: FakeOk, clients: Clients
) -> None:
    fake.fail_next("stream.get", 10)
    with pytest.raises(OkRefusal):
        clients().call("stream.get", {"gid": GID, "patterns": "POST"}, refusals={10})


@pytest.mark.parametrize("code", [2, 8, 11])
def test_retryable_codes_are_retried_with_growing_bounded_pauses(
    fake: FakeOk, clients: Clients, code: int
) -> None:
    fake.fail_next("stream.get", code, times=4)
    assert list_posts(clients()) == {"anchor": "", "has_more": False}
    assert clients.sleep.pauses == [1.0, 2.0, 4.0, 4.0]  # capped at the maximum
    assert fake.count("stream.get") == 5


def test_exhausted_attempts_raise_a_transient_error(fake: FakeOk, clients: Clients) -> None:
    fake.fail_next("stream.get", 11, times=5)
    with pytest.raises(TransientSourceError, match="gave up after 5 attempts") as caught:
        list_posts(clients())
    assert caught.value.retry_after == 4.0
    assert TOKEN not in str(caught.value)


def test_http_errors_and_broken_json_are_retried(fake: FakeOk, clients: Clients) -> None:
    fake.http_error_next("stream.get", 502)
    fake.truncate_next("stream.get")
    fake.http_error_next("stream.get", 429)
    fake.add_post(GID, "Пост")
    feeds = list_posts(clients())["feeds"]
    assert len(feeds) == 1
    assert fake.count("stream.get") == 4


def test_a_slow_answer_is_retried_after_the_timeout(fake: FakeOk, clients: Clients) -> None:
    fake.delay_next("stream.get", 1.0)
    list_posts(clients(timeout=0.2))
    assert fake.count("stream.get") == 2


def test_a_write_is_never_repeated_after_its_answer_was_lost(
    fake: FakeOk, clients: Clients
) -> None:
    post = fake.add_post(GID, "Пост")
    fake.truncate_next("discussions.addDiscussionComment")
    with pytest.raises(OkAmbiguous):
        clients().call(
            "discussions.addDiscussionComment",
            {"entityId": post, "entityType": "GROUP_TOPIC", "comment": "Ответ", "as_admin": True},
            write=True,
        )
    assert len(fake.created) == 1  # OK did post it: the caller must look before resending


def test_a_write_refused_before_it_ran_is_retried(fake: FakeOk, clients: Clients) -> None:
    post = fake.add_post(GID, "Пост")
    fake.fail_next("discussions.addDiscussionComment", 8)
    clients().call(
        "discussions.addDiscussionComment",
        {"entityId": post, "entityType": "GROUP_TOPIC", "comment": "Ответ", "as_admin": True},
        write=True,
    )
    assert len(fake.created) == 1


def test_an_unexpected_http_status_is_transient(clients: Clients) -> None:
    client = clients(base_url=clients.fake.url + "nowhere/")
    with pytest.raises(TransientSourceError, match="HTTP 404"):
        list_posts(client)


def test_self_throttle_spaces_calls_when_asked(fake: FakeOk, clients: Clients) -> None:
    client = clients(requests_per_second=2.0, clock=lambda: 100.0)
    for _ in range(3):
        list_posts(client)
    assert clients.sleep.pauses == [0.5, 1.0]


def test_the_transport_is_injectable(fake: FakeOk, clients: Clients) -> None:
    seen: list[str] = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(str(request.url))
            return super().handle_request(request)

    list_posts(clients(transport=Recording()))
    assert seen == [fake.url + "fb.do"]


def test_calls_are_counted(fake: FakeOk, clients: Clients) -> None:
    fake.fail_next("stream.get", 2)
    client = clients()
    list_posts(client)
    assert client.calls == 2
