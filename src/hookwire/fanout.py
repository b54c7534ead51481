"""Fan-out: which webhooks an accepted event goes to, and how. A pure rule.

An event goes to each of its tenant's webhooks that subscribes to its type
(``["*"]`` subscribes to all the tenant's own types, not to hookwire's
operational ``hookwire.*`` ones, which a webhook must list by name):
- an enabled webhook gets a pending delivery;
- a suspended one (failing too long, or answered 410 — which also disables it)
  gets a *skipped* delivery, logged, so that it can be recovered later;
- one a person disabled gets nothing, as the seed's "Enabled" checkbox promises.

A test event goes to the one webhook it is for, whatever its subscriptions,
state or health.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hookwire.enums import DeliveryState, WebhookStatus
from hookwire.operational import is_operational

ALL_EVENTS = "*"


@dataclass(frozen=True, slots=True)
class Subscriber:
    """What fan-out needs to know of a webhook."""

    id: str
    events: Sequence[str]
    active: bool
    status: WebhookStatus


def subscribes(events: Sequence[str], event_type: str) -> bool:
    """Whether a webhook with these ``events`` receives events of ``event_type``."""
    if event_type in events:
        return True
    return ALL_EVENTS in events and not is_operational(event_type)


def route(
    event_type: str, webhook: Subscriber, test_for: str | None = None
) -> DeliveryState | None:
    """The state of ``webhook``'s new delivery for this event, or None when it gets none.

    ``test_for`` is the webhook a test event is for (None for a real event).
    """
    if test_for is not None:
        return DeliveryState.PENDING if webhook.id == test_for else None
    if webhook.status == WebhookStatus.SUSPENDED:
        return DeliveryState.SKIPPED if subscribes(webhook.events, event_type) else None
    if not webhook.active or not subscribes(webhook.events, event_type):
        return None
    return DeliveryState.PENDING
