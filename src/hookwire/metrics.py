"""Prometheus metrics, one registry per app instance (no global state)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hookwire.enums import WebhookStatus
from hookwire.errors import HookwireError

# A scrape storm reads the database at most this often.
QUEUE_MAX_AGE_SECONDS = 2.0

log = logging.getLogger("hookwire.metrics")


class Metrics:
    """The counters hookwire exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_accepted = Counter(
            "hookwire_events_accepted", "Events accepted", registry=self.registry
        )
        self.deliveries_created = Counter(
            "hookwire_deliveries_created",
            "Deliveries created by accepted events",
            registry=self.registry,
        )
        self.attempts = Counter(
            "hookwire_delivery_attempts",
            "HTTP requests sent to webhooks, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.attempt_seconds = Histogram(
            "hookwire_delivery_attempt_seconds",
            "Duration of delivery requests",
            registry=self.registry,
        )
        # --- what an operator alerts on ---------------------------------------
        self.requests_in_flight = Gauge(
            "hookwire_requests_in_flight",
            "Delivery requests this process has sent and not yet had answered",
            registry=self.registry,
        )
        self.http_request_seconds = Histogram(
            "hookwire_http_request_duration_seconds",
            "API and dashboard answers by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        # From the database at scrape time (see refresh_from), shared by every process.
        self.deliveries_pending = Gauge(
            "hookwire_deliveries_pending",
            'Pending deliveries: due="now" waiting for a worker, due="later" for a retry or '
            "leased to a worker",
            ["due"],
            registry=self.registry,
        )
        self.oldest_due_age = Gauge(
            "hookwire_oldest_due_delivery_age_seconds",
            "How long the oldest delivery that is due has waited for a worker (0: none)",
            registry=self.registry,
        )
        self.webhooks = Gauge(
            "hookwire_webhooks", "Webhooks by status", ["status"], registry=self.registry
        )
        self.database_up = Gauge(
            "hookwire_database_up",
            "1 when the last scrape could read the database's gauges, 0 when it could not",
            registry=self.registry,
        )
        self._queue_read_at: float | None = None
        self._queue_lock = asyncio.Lock()

    async def refresh_from(self, read: Callable[[], Awaitable[QueueStats]]) -> None:
        """Update the database gauges with ``read()``, at most every QUEUE_MAX_AGE_SECONDS.

        Concurrent scrapes share one read; a failed read keeps the values last
        known and sets ``hookwire_database_up`` to 0 (``read`` is bounded by the
        database timeout).
        """
        async with self._queue_lock:
            now = time.monotonic()
            if (
                self._queue_read_at is not None
                and now - self._queue_read_at < QUEUE_MAX_AGE_SECONDS
            ):
                return
            self._queue_read_at = now
            try:
                stats = await read()
            except Exception as exc:
                log.warning("metrics: the database gauges could not be read (%s)", _kind(exc))
                self.database_up.set(0)
                return
        self.database_up.set(1)
        self.deliveries_pending.labels(due="now").set(stats.due_now)
        self.deliveries_pending.labels(due="later").set(stats.due_later)
        self.oldest_due_age.set(stats.oldest_due_age_seconds)
        for status in WebhookStatus:
            self.webhooks.labels(status=status.value).set(stats.webhooks.get(status.value, 0))


def _kind(exc: Exception) -> str:
    # Unavailable and StorageFailure say what happened without any data.
    return str(exc) if isinstance(exc, HookwireError) else type(exc).__name__


@dataclass(frozen=True, slots=True)
class QueueStats:
    """The state of the delivery queue and of the webhooks, as one scrape reads it."""

    due_now: int
    due_later: int
    oldest_due_age_seconds: float
    webhooks: dict[str, int]
