"""VK in the source contract: the fake VK server (the real HTTP one ``vk_api`` talks to) and the
real ``VkSource`` on it.

Each harness is one community on a fake VK of its own, with a community token (long poll,
replies) and a service token (sweeps) that only it uses, so breaking one harness's credentials
leaves any other harness working. Citizens 1, 2, 3 are VK users 1001, 1002, 1003.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from incident.models import Platform
from incident.sources.fakes.vk_server import ANY_CALL, FakeVk
from incident.sources.vk import RetryPolicy, VkSource
from tests.contract.harness import Capabilities, Fault, PlatformHarness, PostedOnPlatform
from tests.world import VkGroup, VkSetup, VkToken, serve_fake_vk

CITIZENS = {1001: ("Анна", "Петрова"), 1002: ("Борис", "Смирнов"), 1003: ("Вера", "Иванова")}
RETRY = RetryPolicy(attempts=3, initial=0.001, maximum=0.01)
HTTP_TIMEOUT = 1.0  # seconds; an injected "timeout" holds the answer back longer than this
TIMEOUT_DELAY = HTTP_TIMEOUT + 0.5

# Harnesses open at the same time are different communities, so their sources have different
# names (and so their own cursors and status rows).
_group_ids = itertools.count(42)


class VkHarness:
    platform = Platform.VK
    capabilities = Capabilities(
        push=True,  # Bots Long Poll
        edits_live=True,  # wall_reply_edit
        deletions_live=True,  # wall_reply_delete
        edits_in_sweep=True,  # a full sweep re-reads the recent posts
        deletions_in_sweep=True,  # ... and compares what it read with what is stored
        restores=True,  # wall.restoreComment
        threads=True,
        replies_as_community=True,
    )
    retry_attempts = RETRY.attempts

    def __init__(self, fake: FakeVk, group_id: int) -> None:
        self.fake = fake
        self.group_id = group_id
        self.source_name = f"vk-{group_id}"
        self._community_token = f"community-{group_id}"
        self._sweep_token = f"service-{group_id}"

    @contextmanager
    def new_source(self) -> Iterator[VkSource]:
        with VkSource(
            name=self.source_name,
            group_id=self.group_id,
            community_token=self._community_token,
            sweep_token=self._sweep_token,
            session_factory=self.fake.session,
            throttle=False,
            retry=RETRY,
            longpoll_wait=1,
            http_timeout=HTTP_TIMEOUT,
            rng=random.Random(1),
            snapshot_margin=timedelta(0),  # the fake keeps our clock: no skew to allow for
        ) as source:
            yield source

    def publish_post(self, text: str) -> str:
        return str(self.fake.add_post(self.group_id, text))

    def citizen_comment(
        self, post_id: str, text: str, *, author: int = 1, reply_to: str | None = None
    ) -> str:
        user = 1000 + author
        if user not in CITIZENS:
            raise ValueError(f"no citizen number {author}")
        return self._comment(post_id, user, text, reply_to)

    def community_comment(self, post_id: str, text: str, *, reply_to: str | None = None) -> str:
        return self._comment(post_id, -self.group_id, text, reply_to)

    def _comment(self, post_id: str, from_id: int, text: str, reply_to: str | None) -> str:
        cid = self.fake.add_comment(
            self.group_id,
            int(post_id),
            from_id,
            text,
            reply_to_comment=None if reply_to is None else int(reply_to),
        )
        return str(cid)

    def edit(self, comment_id: str, text: str) -> None:
        self.fake.edit_comment(self.group_id, int(comment_id), text)

    def delete(self, comment_id: str) -> None:
        self.fake.delete_comment(self.group_id, int(comment_id))

    def restore(self, comment_id: str) -> None:
        self.fake.restore_comment(self.group_id, int(comment_id))

    def inject_fault(self, fault: Fault, times: int = 1) -> None:
        if fault == "rate_limit":
            self.fake.fail_next(ANY_CALL, 6, times)  # "Too many requests per second"
        elif fault == "server_error":
            self.fake.http_error_next(ANY_CALL, 502, times)
        elif fault == "timeout":
            self.fake.delay_next(ANY_CALL, TIMEOUT_DELAY, times)
        elif fault == "malformed":
            self.fake.truncate_next(ANY_CALL, times)
        else:  # pragma: no cover - Fault is a closed set
            raise ValueError(f"unknown fault {fault!r}")

    def break_credentials(self) -> None:
        self.fake.revoke_token(self._community_token)
        self.fake.revoke_token(self._sweep_token)

    def posted(self) -> list[PostedOnPlatform]:
        return [
            PostedOnPlatform(
                external_id=str(c["id"]),
                post_id=str(c["post_id"]),
                reply_to_id=str(c["reply_to_comment"]) if "reply_to_comment" in c else None,
                text=str(c["text"]),
            )
            for c in self.fake.created
            if c["owner_id"] == -self.group_id
        ]


@contextmanager
def vk_harness() -> Iterator[PlatformHarness]:
    """A fake VK with one community of its own (a new group id each time) and three citizens;
    every answer and event it served must have matched VK's schema."""
    gid = next(_group_ids)
    setup = VkSetup(
        groups=(VkGroup(gid, f"Комитет {gid}"),),
        tokens=(
            VkToken(f"community-{gid}", "community", gid),
            VkToken(f"service-{gid}", "service"),
        ),
        users=CITIZENS,
    )
    with serve_fake_vk(setup) as fake:
        yield VkHarness(fake, gid)
    assert fake.schema_errors == []
