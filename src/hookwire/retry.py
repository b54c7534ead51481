"""When to try a failed delivery again: the retry schedule, its jitter, ``Retry-After``."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from hookwire.enums import DeliveryState

if TYPE_CHECKING:
    from hookwire.config import Settings

_DELTA_SECONDS = re.compile(r"\d+(\.\d+)?")


@dataclass(frozen=True)
class RetryPolicy:
    """Seconds to wait after each failed attempt, each varied by ``± jitter`` (a fraction).

    ``schedule[0]`` follows the first attempt, so a delivery gets at most
    ``1 + len(schedule)`` attempts.
    """

    schedule: tuple[float, ...]
    jitter: float

    def __post_init__(self) -> None:
        if any(seconds < 0 for seconds in self.schedule):
            raise ValueError("retry schedule entries must be >= 0 seconds")
        if not 0 <= self.jitter < 1:
            raise ValueError("retry jitter must be a fraction in [0, 1)")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The policy configured by ``retry_schedule`` and ``retry_jitter``."""
        return cls(schedule=tuple(settings.retry_schedule), jitter=settings.retry_jitter)

    @property
    def max_attempts(self) -> int:
        """How many attempts a delivery gets in all, the first included."""
        return 1 + len(self.schedule)

    def delay_after(
        self, attempts_made: int, rng: random.Random, retry_after: float | None = None
    ) -> float | None:
        """Seconds until the next attempt once ``attempts_made`` attempts have failed.

        None when the schedule is exhausted (the delivery has then failed). A
        ``retry_after`` from the receiver replaces the scheduled delay, clamped
        to the schedule's shortest and longest delay, without jitter.
        """
        if attempts_made < 1:
            raise ValueError(f"attempts_made must be >= 1, got {attempts_made}")
        if attempts_made > len(self.schedule):
            return None
        if retry_after is not None:
            return min(max(retry_after, min(self.schedule)), max(self.schedule))
        delay = self.schedule[attempts_made - 1]
        if self.jitter:
            delay *= 1 + rng.uniform(-self.jitter, self.jitter)
        return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait: delta-seconds or an HTTP-date.

    None when the header is absent or unparsable; a date in the past gives 0.
    ``now`` should be timezone-aware (a naive one is taken as UTC).
    """
    if value is None:
        return None
    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # An HTTP-date is always GMT (RFC 9110 §5.6.7).
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class Decision:
    """What follows an attempt: the delivery's new state, and its next attempt if any."""

    state: DeliveryState  # succeeded, pending (a retry), failed, or skipped (not sent)
    next_attempt_at: datetime | None = None
    next_retry_reason: str | None = None  # the failure, logged on the retry


def decide(
    attempt: int,
    failure: str | None,
    *,
    retryable: bool,
    retry_after: str | None,
    finished_at: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> Decision:
    """The outcome of attempt number ``attempt``, which failed with ``failure`` (None: success).

    A retryable failure is tried again on the policy's schedule (or when
    ``Retry-After`` asks, within its bounds) until the schedule is exhausted;
    anything else that failed has failed for good.
    """
    if failure is None:
        return Decision(DeliveryState.SUCCEEDED)
    if not retryable:
        return Decision(DeliveryState.FAILED)
    delay = policy.delay_after(attempt, rng, parse_retry_after(retry_after, finished_at))
    if delay is None:
        return Decision(DeliveryState.FAILED)
    return Decision(DeliveryState.PENDING, finished_at + timedelta(seconds=delay), failure)
