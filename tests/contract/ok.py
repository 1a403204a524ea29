"""OK's ``PlatformHarness`` for the source contract suite: the fake OK and ``OkSource`` on it.

OK pushes nothing (the source is polled); an ordinary sweep reports neither edits nor deletions
(a deleted comment just stops appearing; edits have no signal), a full sweep reads the recent
posts from their first comment and reports both. It has threads through
``reply_to_comment_id``. Replies are posted as the group (``as_admin=true``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta

from incident.models import Platform
from incident.sources.base import Source
from incident.sources.fakes.ok_server import FakeOk
from incident.sources.ok import RetryPolicy
from tests.contract.harness import Capabilities, Fault, PostedOnPlatform
from tests.okworld import CITIZENS, TOKEN, ok_source, serve_fake_ok

OK_CAPABILITIES = Capabilities(
    push=False,
    sweep=True,
    edits_in_sweep=True,  # a full sweep reads the recent posts from their first comment
    deletions_in_sweep=True,
    edits_live=False,
    deletions_live=False,
    threads=True,
    replies_as_community=True,
)
HTTP_TIMEOUT = 0.5  # seconds; an injected "timeout" answers after twice as long
RETRY = RetryPolicy(attempts=4, initial=0.001, maximum=0.004)
# Harnesses open at the same time are different groups (and so different source names).
_group_ids = itertools.count(53_038_939_046_008)


class OkHarness:
    """The fake OK with one group, and ``OkSource`` instances built on it."""

    platform = Platform.OK
    capabilities = OK_CAPABILITIES
    retry_attempts = RETRY.attempts

    def __init__(self, fake: FakeOk, group_id: str) -> None:
        self.fake = fake
        self.group_id = group_id
        self.source_name = f"ok-{group_id}"

    def new_source(self) -> AbstractContextManager[Source]:
        @contextmanager
        def built() -> Iterator[Source]:
            with ok_source(
                self.fake,
                name=self.source_name,
                group_id=int(self.group_id),
                retry=RETRY,
                http_timeout=HTTP_TIMEOUT,
                snapshot_margin=timedelta(0),  # the fake keeps our clock: no skew to allow for
            ) as source:
                yield source

        return built()

    def publish_post(self, text: str) -> str:
        return self.fake.add_post(self.group_id, text)

    def citizen_comment(
        self, post_id: str, text: str, *, author: int = 1, reply_to: str | None = None
    ) -> str:
        return self.fake.add_comment(post_id, CITIZENS[author], text, reply_to=reply_to)

    def community_comment(self, post_id: str, text: str, *, reply_to: str | None = None) -> str:
        return self.fake.add_group_answer(post_id, text, reply_to=reply_to)

    def edit(self, comment_id: str, text: str) -> None:
        self.fake.edit_comment(comment_id, text)

    def delete(self, comment_id: str) -> None:
        self.fake.delete_comment(comment_id)

    def restore(self, comment_id: str) -> None:
        raise NotImplementedError("no restores on this platform's fake")

    def inject_fault(self, fault: Fault, times: int = 1) -> None:
        if fault == "rate_limit":
            self.fake.fail_next("*", 11, times)  # LIMIT_REACHED
        elif fault == "server_error":
            self.fake.http_error_next("*", 502, times)
        elif fault == "timeout":
            self.fake.delay_next("*", 2 * HTTP_TIMEOUT, times)
        else:
            self.fake.truncate_next("*", times)

    def break_credentials(self) -> None:
        self.fake.revoke_token(TOKEN)

    def posted(self) -> list[PostedOnPlatform]:
        return [
            PostedOnPlatform(
                external_id=c["id"],
                post_id=c["topic_id"],
                reply_to_id=c.get("reply_to_comment_id"),
                text=c["text"],
            )
            for c in self.fake.created
        ]


@contextmanager
def ok_harness() -> Iterator[OkHarness]:
    """A running fake OK and its harness; fails the test if the source broke OK's rules."""
    group_id = str(next(_group_ids))
    with serve_fake_ok(group_id=group_id) as fake:
        yield OkHarness(fake, group_id)
