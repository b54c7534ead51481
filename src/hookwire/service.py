"""Operations that combine validation and storage, shared by the API and the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hookwire.addressguard import url_refusal
from hookwire.api.problems import Problem, invalid
from hookwire.errors import NotFound
from hookwire.payload import build_payload
from hookwire.records import Delivery, Event
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from hookwire.validation import check_against_schema

TEST_EVENT_TYPE = "webhook.test"
PUBLIC_ONLY_HINT = (
    "hookwire delivers only to public addresses (the operator can allow private networks "
    "with HOOKWIRE_ALLOW_PRIVATE_NETWORKS)"
)


def check_webhook_url(url: str, *, allow_private: bool) -> None:
    """Raise a 422 about ``url`` when hookwire may not deliver there (see ``url_refusal``).

    Called by the API and the dashboard when a webhook is saved, so a loopback
    or private URL is refused then rather than at its first delivery.
    """
    try:
        reason = url_refusal(url, allow_private)
    except ValueError as exc:
        raise invalid("url", f"the URL cannot be read: {exc}") from None
    if reason is not None:
        raise invalid("url", f"{reason}; {PUBLIC_ONLY_HINT}")


async def trigger_event(
    storage: Storage,
    tenant_id: str,
    event_type: str,
    data: dict[str, Any],
    event_id: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[Event, bool]:
    """Validate and accept an event; returns ``(event, created)``."""
    try:
        known = await storage.get_event_type(event_type)
    except NotFound:
        raise invalid(
            "event",
            f"unknown event type {event_type!r}; add it with POST /v1/event-types first",
        ) from None
    if known.schema is not None:
        check_against_schema(data, known.schema)
    now = utcnow()
    return await storage.accept_event(
        tenant_id,
        event_id,
        event_type,
        build_payload(event_type, data, now),
        now,
        idempotency_key=idempotency_key,
    )


async def send_test_event(storage: Storage, tenant_id: str, webhook_id: str) -> Event:
    """A ``webhook.test`` event for one webhook alone, whatever its subscriptions."""
    webhook = await storage.get_webhook(tenant_id, webhook_id)
    now = utcnow()
    data = {"webhookId": webhook.id, "message": "This is a test event sent by hookwire."}
    event, _ = await storage.accept_event(
        tenant_id,
        None,
        TEST_EVENT_TYPE,
        build_payload(TEST_EVENT_TYPE, data, now),
        now,
        only_webhook_id=webhook.id,
    )
    if not event.deliveries:
        raise Problem(409, "the test event could not be queued for this webhook")
    return event


async def resend_delivery(storage: Storage, tenant_id: str, delivery_id: str) -> Delivery:
    """Queue one delivery again now, whatever its state; logged as a manual resend."""
    return await storage.resend_delivery(tenant_id, delivery_id)


async def recover_webhook(
    storage: Storage, tenant_id: str, webhook_id: str, since: datetime
) -> int:
    """Queue again every failed or skipped delivery of a webhook since ``since``; how many."""
    if since.tzinfo is None:
        raise invalid("since", "give a time zone, e.g. 2024-05-01T00:00:00Z")
    return await storage.recover_webhook(tenant_id, webhook_id, since)
