"""The narrow interface every platform source implements, and its error classes.

A source turns a platform's wire format into ``Batch`` objects. It never touches the
database: the caller passes the cursor values it stored and commits what comes back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol, Self

from incident.models import Batch, OutgoingReply, Platform, PostedReply


class SourceError(Exception):
    """Base class of every error a source raises on purpose."""


class TransientSourceError(SourceError):
    """Worth retrying later (rate limits, 5xx, timeouts, malformed replies).

    Raised only after the source's own bounded backoff gave up for this run.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSourceError(SourceError):
    """The source cannot work until a human acts (broken token, captcha, no access).

    The worker stops this source, records the reason and keeps the others running.
    """


class ReplyRejectedError(SourceError):
    """The platform refused this one reply for good (comment deleted, text refused...).

    The outbox row is marked failed with the reason; the source keeps running.
    """


class Source(Protocol):
    """One configured page on one platform: the contract every platform's source honours.

    ``sweep`` pulls what is new since the stored cursors; ``listen_once`` (where the platform
    pushes) waits for live changes; ``post_reply`` posts as the community, idempotently by
    the reply's key. Errors are ``TransientSourceError`` (retry later) or
    ``PermanentSourceError`` (stop this source until a person fixes it).
    """

    @property
    def name(self) -> str:
        """The configured name of this source, unique in a deployment (e.g. ``vk-main``)."""
        ...

    @property
    def platform(self) -> Platform:
        """The platform this source speaks to."""
        ...

    def sweep(self, cursors: Mapping[str, str], *, full: bool = False) -> Iterator[Batch]:
        """Pull everything new since ``cursors``; yield batches in an order safe to commit.

        Each batch carries the cursor values that include its changes, so committing a batch
        and its cursors together means a crash never loses or repeats work beyond what the
        storage's unique keys absorb.

        ``full``: read the recent posts completely rather than from the cursors, and report
        every comment as it is now (an EDIT change per live comment, a ``PostSnapshot`` per
        post), so edits, deletions and restores missed while no one listened are caught up.
        The worker asks for one after a gap (start, taking a source over, lost live events)
        and on a slow schedule. A source that cannot re-read says so in its capabilities and
        sweeps as usual.
        """
        ...

    def listen_once(self, cursors: Mapping[str, str]) -> Batch:
        """Wait (bounded) for pushed events once and return them with the new cursor values.

        Sources without a push channel return an empty batch at once.
        """
        ...

    def post_reply(self, reply: OutgoingReply) -> PostedReply:
        """Post ``reply`` as the community; repeating it with the same idempotency key must not
        post twice."""
        ...

    def close(self) -> None:
        """Release connections; the source is not used afterwards."""
        ...


class ClosedOnExit:
    """``with source: ...`` closes the source on the way out (its ``close()``)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
