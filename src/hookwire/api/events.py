"""Tenant routes for events: trigger one, list them, read one with its deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from hookwire.api.deps import Cursor, Limit, MetricsDep, StorageDep, TenantDep
from hookwire.api.models import (
    CLIENT_ID_PATTERN,
    DeliveryPublic,
    EventAccepted,
    EventCreate,
    EventPublic,
    ListResponse,
)
from hookwire.payload import payload_data
from hookwire.records import Delivery, Event
from hookwire.service import trigger_event

router = APIRouter(prefix="/v1/tenants/{tenant_id}/events", tags=["events"])


def delivery_public(record: Delivery) -> DeliveryPublic:
    return DeliveryPublic(
        id=record.id,
        event_id=record.event_id,
        webhook_id=record.webhook_id,
        event=record.event_type,
        state=record.state,
        attempts=record.attempts,
        next_attempt_at=record.next_attempt_at,
        last_status_code=record.last_status_code,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def event_public(record: Event) -> EventPublic:
    return EventPublic(
        id=record.id,
        event=record.event_type,
        data=payload_data(record.payload),
        triggered_at=record.triggered_at,
        deliveries=[delivery_public(d) for d in record.deliveries],
    )


@router.post("", status_code=202)
async def create_event(
    tenant_id: TenantDep,
    body: EventCreate,
    storage: StorageDep,
    metrics: MetricsDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            pattern=CLIENT_ID_PATTERN,
            description="Repeat it to get the first event back instead of a new one.",
        ),
    ] = None,
) -> EventAccepted:
    """Trigger an event: stored with one delivery per matching webhook before this answers."""
    event, created = await trigger_event(
        storage, tenant_id, body.event, body.data, body.id, idempotency_key
    )
    deliveries = sum(1 for d in event.deliveries if d.state != "skipped")
    if created:
        metrics.events_accepted.inc()
        metrics.deliveries_created.inc(deliveries)
    else:
        response.headers["Idempotent-Replayed"] = "true"
    return EventAccepted(
        id=event.id,
        event=event.event_type,
        triggered_at=event.triggered_at,
        deliveries=deliveries,
    )


@router.get("")
async def list_events(
    tenant_id: TenantDep,
    storage: StorageDep,
    limit: Limit = None,
    cursor: Cursor = None,
    event: Annotated[str | None, Query(description="Only events of this type.")] = None,
) -> ListResponse[EventPublic]:
    """The tenant's events, newest first, with each delivery's state."""
    page = await storage.list_events(tenant_id, limit, cursor, event)
    return ListResponse(data=[event_public(e) for e in page.items], next_cursor=page.next_cursor)


@router.get("/{event_id}")
async def get_event(tenant_id: TenantDep, event_id: str, storage: StorageDep) -> EventPublic:
    """One event with its deliveries."""
    return event_public(await storage.get_event(tenant_id, event_id))
