"""Per-webhook lanes: each webhook's share of a worker, and its claimed backlog.

A worker claims deliveries for many webhooks at once. Each webhook gets a lane
that runs at most ``max_concurrency`` of its requests; what it cannot start yet
waits in its backlog. The caps themselves hold across workers because claims
count every lease (see :mod:`hookwire.storage.claims`); :class:`Leases` counts
this worker's own, so that a webhook it fills alone is left out of its next
claims, and a slow or dead webhook only ever holds up itself.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from hookwire.records import ClaimedDelivery


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
    # Monotonic time before which this worker starts no request of a
    # rate-limited webhook (see start_time).
    next_start: float = 0.0
    # Set (and replaced) when the webhook's settings change, to wake the
    # consumers waiting for a start time.
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def announce_change(self) -> None:
        """Wake every consumer waiting in :meth:`until_start` to look at the new settings."""
        self.changed.set()
        self.changed = asyncio.Event()

    async def until_start(self, start: float) -> bool:
        """Wait until the monotonic time ``start``; False if the settings changed first."""
        delay = start - time.monotonic()
        if delay <= 0:
            return True
        try:
            await asyncio.wait_for(self.changed.wait(), delay)
        except TimeoutError:
            return True
        return False

    def start_time(self, now: float, not_before: float, rate_limit: int | None) -> float:
        """When to start the next request: at its claimed start time, and never closer
        than ``1 / rate_limit`` to this worker's previous one (a claim's start times
        are spaced, but the first may be sent late, which would bunch it with the next).
        """
        start = max(now, not_before)
        if rate_limit is not None:
            start = max(start, self.next_start)
            self.next_start = start + 1.0 / rate_limit
        return start

    def idle(self) -> bool:
        return self.consumers == 0 and not self.backlog

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

    def take(self, delivery_ids: set[str]) -> list[ClaimedDelivery]:
        """Remove and return the waiting deliveries among ``delivery_ids``."""
        taken = [h.delivery for h in self.backlog if h.delivery.id in delivery_ids]
        if taken:
            self.backlog = deque(h for h in self.backlog if h.delivery.id not in delivery_ids)
        return taken


class Leases:
    """The deliveries this worker holds under lease, by webhook.

    A delivery is held from its claim until its outcome is recorded (or it is
    given back): waiting in a lane, in flight, or waiting to be written. Claims
    count every lease against a webhook's cap, so a webhook with ``cap`` of
    them here has no room until some are recorded.
    """

    def __init__(self) -> None:
        self._webhook_of: dict[str, str] = {}
        self._per_webhook: Counter[str] = Counter()

    def add(self, deliveries: Iterable[ClaimedDelivery]) -> None:
        for delivery in deliveries:
            if delivery.id not in self._webhook_of:
                self._webhook_of[delivery.id] = delivery.webhook_id
                self._per_webhook[delivery.webhook_id] += 1

    def drop(self, delivery_ids: Iterable[str]) -> set[str]:
        """Forget ``delivery_ids``; the webhooks they belonged to."""
        webhooks = set()
        for delivery_id in delivery_ids:
            webhook_id = self._webhook_of.pop(delivery_id, None)
            if webhook_id is not None:
                webhooks.add(webhook_id)
                self._per_webhook[webhook_id] -= 1
                if not self._per_webhook[webhook_id]:
                    del self._per_webhook[webhook_id]
        return webhooks

    def ids(self) -> set[str]:
        return set(self._webhook_of)

    def count(self, webhook_id: str) -> int:
        return self._per_webhook.get(webhook_id, 0)

    def webhooks(self) -> set[str]:
        return set(self._per_webhook)

    def __contains__(self, delivery_id: object) -> bool:
        return delivery_id in self._webhook_of
