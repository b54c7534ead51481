"""Per-webhook lanes: each webhook's concurrency cap, rate limit and claimed backlog.

A worker claims deliveries for many webhooks at once. Each webhook gets a lane
that lets at most ``max_concurrency`` of its requests run and, with a rate
limit, starts them no faster than ``rate_limit`` per second. What a lane cannot
start yet waits in its backlog; a webhook whose lane is saturated is left out of
the next claims, so a slow or dead webhook only ever holds up itself.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from hookwire.storage.records import ClaimedDelivery


@dataclass(slots=True)
class Held:
    """A claimed delivery waiting in its lane, and when it was claimed (monotonic)."""

    delivery: ClaimedDelivery
    claimed_at: float


@dataclass(slots=True)
class Lane:
    """One webhook's share of a worker."""

    in_flight: int = 0
    # Tasks sending this lane's deliveries one after another (at most max_concurrency).
    consumers: int = 0
    backlog: deque[Held] = field(default_factory=deque)
    # Monotonic time before which the rate limit allows no new request.
    next_start_at: float = 0.0
    timer_armed: bool = False

    def saturated(self, max_concurrency: int) -> bool:
        """True when claiming more for this webhook would only lengthen its backlog."""
        return bool(self.backlog) or self.in_flight >= max_concurrency

    def idle(self) -> bool:
        return self.consumers == 0 and not self.backlog and not self.timer_armed

    def wait_before_start(self, now: float, rate_limit: int | None) -> float:
        """Seconds until the rate limit allows the next request (0: start now, and counted)."""
        if rate_limit is None:
            return 0.0
        if self.next_start_at > now:
            return self.next_start_at - now
        self.next_start_at = max(self.next_start_at, now) + 1.0 / rate_limit
        return 0.0

    def take_overdue(self, claimed_before: float) -> list[ClaimedDelivery]:
        """Remove and return what has waited since before ``claimed_before``."""
        overdue = []
        while self.backlog and self.backlog[0].claimed_at < claimed_before:
            overdue.append(self.backlog.popleft().delivery)
        return overdue

    def take_all(self) -> list[ClaimedDelivery]:
        """Remove and return the whole backlog."""
        held = [h.delivery for h in self.backlog]
        self.backlog.clear()
        return held
