"""Bounded retry shared by the platform clients: how many tries, and the pauses between them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retry of one call: ``attempts`` tries, then ``TransientSourceError``.

    The pause before try ``k+1`` is uniform in ``[0, min(maximum, initial * 2**(k-1))]``.
    """

    attempts: int = 5
    initial: float = 1.0
    maximum: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.initial < 0 or self.maximum < 0:
            raise ValueError("RetryPolicy delays must not be negative")

    def cap(self, failed_attempts: int) -> float:
        """The largest pause after ``failed_attempts`` failures (1 for the first)."""
        return float(min(self.maximum, self.initial * 2 ** (failed_attempts - 1)))
