"""Prometheus metrics, one registry per app instance (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


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
