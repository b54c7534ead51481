"""The states and kinds of hookwire's things, one enum each, shared by every layer.

They are ``StrEnum``s: each member is the very string stored in the database
and shown in the API, so records, SQL and JSON agree without conversion.
"""

from __future__ import annotations

from enum import StrEnum


class DeliveryState(StrEnum):
    """Where one event's way to one webhook stands."""

    PENDING = "pending"  # due now, leased by a worker, or waiting for a retry
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # for good: the retry schedule is exhausted, or not retryable
    SKIPPED = "skipped"  # not sent: the webhook was suspended or disabled; recoverable

    @property
    def finished(self) -> bool:
        return self is not DeliveryState.PENDING


class Trigger(StrEnum):
    """Why a request was made: its schedule, a person's resend, or a test event."""

    SCHEDULED = "scheduled"
    MANUAL = "manual"
    TEST = "test"


class WebhookStatus(StrEnum):
    """A webhook's health, from its recent deliveries."""

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"  # its latest delivery failed
    SUSPENDED = "suspended"  # failing for the suspension window, or answered 410


class SignatureScheme(StrEnum):
    """How a webhook's requests are signed (see :mod:`hookwire.signing`)."""

    HOOKWIRE = "hookwire"  # the seed's Webhook-Signature
    STANDARD = "standard"  # Standard Webhooks


class BodyFormat(StrEnum):
    """What a webhook's request body looks like (see :mod:`hookwire.formats`)."""

    HOOKWIRE = "hookwire"  # the seed's {event, data, triggeredAt}
    SLACK = "slack"  # a Slack incoming-webhook message
    DISCORD = "discord"  # a Discord webhook message


class Ordering(StrEnum):
    """Whether a webhook's deliveries may overlap."""

    NONE = "none"
    FIFO = "fifo"
