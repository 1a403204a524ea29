"""The Telegram harness of the source contract: ``FakeTelegram`` and ``TelegramSource`` on it.

Ids as the contract sees them: a post is the channel post's id, a comment its message id in the
discussion group. Edits and deletions are not reported by the Telegram source (the sweep reads
history after its cursor; no live edit or delete events are taken), so those capabilities are off.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from incident.models import Platform
from incident.sources.base import Source
from incident.sources.fakes.telegram_fake import FakeTelegram
from incident.sources.telegram import TelegramSource
from incident.sources.telegram.source import Retry
from tests.contract.harness import Capabilities, Fault, PlatformHarness, PostedOnPlatform

RETRY = Retry(attempts=3, initial=0.001, maximum=0.004)
FLOOD_SLEEP_THRESHOLD = 60.0  # Telethon's default: shorter FloodWaits are slept through
_channels = itertools.count(1)


class TelegramHarness:
    """One channel with its discussion group on its own in-memory Telegram."""

    platform = Platform.TELEGRAM
    capabilities = Capabilities(push=True)
    retry_attempts = RETRY.attempts

    def __init__(self) -> None:
        number = next(_channels)
        self.channel = f"committee_news_{number}"
        self.source_name = f"tg-contract-{number}"
        # The fake sleeps (instantly here) through flood waits under the threshold, as Telethon
        # does; a longer wait reaches the source as transient, with the wait it must honour.
        self.fake = FakeTelegram(
            channel_username=self.channel,
            sleep=lambda _: None,
            flood_sleep_threshold=FLOOD_SLEEP_THRESHOLD,
        )

    @contextmanager
    def _source(self) -> Iterator[Source]:
        source = TelegramSource(
            name=self.source_name,
            community=self.channel,
            gateway=self.fake,
            listen_wait=0.05,
            retry=RETRY,
            sleep=lambda _: None,
            rng=random.Random(7),
        )
        try:
            yield source
        finally:
            source.close()

    def new_source(self) -> AbstractContextManager[Source]:
        return self._source()

    def publish_post(self, text: str) -> str:
        return str(self.fake.publish_post(text))

    def citizen_comment(
        self, post_id: str, text: str, *, author: int = 1, reply_to: str | None = None
    ) -> str:
        target = int(reply_to) if reply_to is not None else None
        return str(self.fake.comment(int(post_id), text, author=author, reply_to=target))

    def community_comment(self, post_id: str, text: str, *, reply_to: str | None = None) -> str:
        target = int(reply_to) if reply_to is not None else None
        return str(self.fake.channel_message(int(post_id), text, reply_to=target))

    def edit(self, comment_id: str, text: str) -> None:
        self.fake.edit(int(comment_id), text)

    def delete(self, comment_id: str) -> None:
        self.fake.delete(int(comment_id))

    def restore(self, comment_id: str) -> None:
        raise NotImplementedError("no restores on this platform's fake")

    def inject_fault(self, fault: Fault, times: int = 1) -> None:
        if fault == "malformed":  # a gateway hands over typed objects: nothing malformed
            self.fake.inject("server", times)
        elif fault == "rate_limit":
            # Telegram names the wait. A short one is slept through (Telethon's own retry); one
            # that outlasts the retries is a wait longer than the threshold: the source reports
            # it with retry_after and the next sweep, after the wait, goes on.
            if times >= self.retry_attempts:
                self.fake.inject("flood_wait", 1, seconds=FLOOD_SLEEP_THRESHOLD * 2)
            else:
                self.fake.inject("flood_wait", times, seconds=2)
        else:
            self.fake.inject("server" if fault == "server_error" else "connection", times)

    def break_credentials(self) -> None:
        self.fake.revoke()

    def posted(self) -> list[PostedOnPlatform]:
        result = []
        for sent in self.fake.sent:
            message = self.fake.message(sent.id)
            top = message.reply_to_top_id or message.reply_to_msg_id
            post = self.fake.post_of_copy(top) if top is not None else None
            reply_to = None if sent.reply_to == top else str(sent.reply_to)
            result.append(PostedOnPlatform(str(sent.id), str(post), reply_to, sent.text))
        return result


@contextmanager
def telegram_harness() -> Iterator[PlatformHarness]:
    """A fresh Telegram world and its harness."""
    yield TelegramHarness()
