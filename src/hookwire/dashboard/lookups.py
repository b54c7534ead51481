"""Reads that several dashboard pages share, built from storage methods only."""

from __future__ import annotations

from datetime import datetime

from hookwire.records import Delivery, EventType, Webhook
from hookwire.service import TEST_EVENT_TYPE
from hookwire.storage import Storage
from hookwire.storage.base import MAX_PAGE_LIMIT, utcnow

POLL_MIN_SECONDS = 2
# With nothing pending a page still looks for new events now and then.
IDLE_POLL_SECONDS = 15


async def all_event_types(storage: Storage) -> list[EventType]:
    """The whole catalogue, by name."""
    types: list[EventType] = []
    cursor: str | None = None
    while True:
        page = await storage.list_event_types(MAX_PAGE_LIMIT, cursor)
        types.extend(page.items)
        if page.next_cursor is None:
            return types
        cursor = page.next_cursor


def event_type_names(types: list[EventType]) -> list[str]:
    """Names for an event filter: the catalogue plus the test event type."""
    names = [t.name for t in types]
    return names if TEST_EVENT_TYPE in names else sorted([*names, TEST_EVENT_TYPE])


async def webhook_names(storage: Storage, tenant_id: str) -> dict[str, str]:
    """Webhook id to name, for pages that show deliveries."""
    names: dict[str, str] = {}
    cursor: str | None = None
    while True:
        page = await storage.list_webhooks(tenant_id, MAX_PAGE_LIMIT, cursor)
        names.update((w.id, w.name) for w in page.items)
        if page.next_cursor is None:
            return names
        cursor = page.next_cursor


async def pending_deliveries(storage: Storage, webhook: Webhook) -> list[Delivery]:
    """The webhook's deliveries still pending (new, retrying, resent or recovered)."""
    return await storage.list_pending_deliveries(webhook.tenant_id, webhook.id)


def poll_seconds(pending: list[Delivery], lease_seconds: float, now: datetime | None = None) -> int:
    """How often a page of deliveries refreshes: often while some are pending.

    A claimed delivery's ``next_attempt_at`` is its lease's end, so one due
    within a lease may be in flight right now: refresh often. Otherwise the
    next attempt is a scheduled retry: refresh soon after it is due.
    """
    due = [d.next_attempt_at for d in pending if d.next_attempt_at is not None]
    if not pending:
        return IDLE_POLL_SECONDS
    if not due:
        return POLL_MIN_SECONDS
    wait = (min(due) - (now or utcnow())).total_seconds()
    if wait <= lease_seconds:
        return POLL_MIN_SECONDS
    return int(min(IDLE_POLL_SECONDS, wait + 1))
