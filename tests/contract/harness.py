"""What the source contract suite needs from each platform: a fake of it, and a source on it.

Every platform (VK, OK, Telegram) provides one ``PlatformHarness``; the contract suite
(``tests/contract/test_source_contract.py``) runs the same scenarios against each, through the
real pipeline steps (``pipeline.sweep_once``, ``listen_once``, ``send_one_reply``) into the
database, on SQLite and PostgreSQL.

A harness drives its platform's fake the way the platform itself would behave: citizens write,
edit and delete comments, the community answers in the platform's own interface, faults happen.
What a platform cannot do is declared in ``Capabilities``, never special-cased in the worker:
a scenario that needs a capability the platform lacks is not collected for that platform
(the parametrization leaves it out; it is not a skip).

A platform joins the suite with a harness and one line in ``HARNESSES``
(``tests/contract/conftest.py``): a name and a factory that opens a harness as a context
manager. Harnesses open at the same time must be different pages (different ``source_name``):
the suite opens a second one to see that one source's broken credentials stop only that source.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

from incident.models import Platform
from incident.sources.base import Source

Fault = Literal["rate_limit", "server_error", "timeout", "malformed"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform can do; the contract's scenarios are chosen from it."""

    push: bool  # live changes arrive through ``Source.listen_once``
    sweep: bool = True  # a sweep with stored cursors catches up after downtime
    edits_in_sweep: bool = False  # a full sweep sees an edited text (not only live events do)
    deletions_in_sweep: bool = False  # a full sweep sees deletions (and restores, if any)
    restores: bool = False  # a deleted comment can come back (``PlatformHarness.restore``)
    edits_live: bool = False  # edits arrive as live changes
    deletions_live: bool = False  # deletions arrive as live changes
    threads: bool = True  # a citizen can reply to a comment (a thread under a top-level one)
    replies_as_community: bool = True  # the source can post a reply as the community itself


@dataclass(frozen=True, slots=True)
class PostedOnPlatform:
    """A comment the community posted through the source, as the fake recorded it."""

    external_id: str
    post_id: str
    reply_to_id: str | None
    text: str


class PlatformHarness(Protocol):
    """One platform's fake, populated by the scenarios, and sources built on it."""

    platform: Platform
    capabilities: Capabilities
    source_name: str  # the configured name the source reports (``Source.name``)
    retry_attempts: int  # tries a source makes per call before giving up for this run

    def new_source(self) -> AbstractContextManager[Source]:
        """A new source instance against the fake, as a freshly started worker builds it (a
        restart is a new instance with the cursors stored in the database). Retries are fast
        (milliseconds) so fault scenarios run quickly."""
        ...

    def publish_post(self, text: str) -> str:
        """The community publishes a post; returns the post's id as ``Comment.post_id``."""
        ...

    def citizen_comment(
        self, post_id: str, text: str, *, author: int = 1, reply_to: str | None = None
    ) -> str:
        """Citizen number ``author`` (1, 2, 3: distinct people with names) comments under the
        post, or replies to comment ``reply_to``; returns the comment's ``external_id``."""
        ...

    def community_comment(self, post_id: str, text: str, *, reply_to: str | None = None) -> str:
        """The community answers in the platform's own interface (not through the source)."""
        ...

    def edit(self, comment_id: str, text: str) -> None:
        """The author edits the comment."""
        ...

    def delete(self, comment_id: str) -> None:
        """The comment is deleted (by its author or a moderator)."""
        ...

    def restore(self, comment_id: str) -> None:
        """The deleted comment is restored (only where ``capabilities.restores``)."""
        ...

    def inject_fault(self, fault: Fault, times: int = 1) -> None:
        """The next ``times`` calls to the platform fail with ``fault`` (then work again);
        ``times=retry_attempts`` outlasts a source's retries of one call."""
        ...

    def break_credentials(self) -> None:
        """The source's credentials stop working for good (revoked token, wrong key)."""
        ...

    def posted(self) -> list[PostedOnPlatform]:
        """Every comment the community posted through a source, oldest first."""
        ...
