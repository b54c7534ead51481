"""Tenant routes for events: trigger one, list them, read one with its deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from hookwire.api.deps import Cursor, Limit, ServicesDep, TenantDep, get_services
from hookwire.api.models import Delivery, Event, EventAccepted, EventList, public
from hookwire.payload import payload_data
from hookwire.records import Delivery as DeliveryRecord
from hookwire.records import Event as EventRecord
from hookwire.service.inputs import CLIENT_ID_PATTERN, MAX_CLIENT_ID_CHARS, EventCreate

router = APIRouter(prefix="/v1/tenants/{tenant_id}/events", tags=["events"])


def delivery_public(record: DeliveryRecord) -> Delivery:
    return public(Delivery, record, event=record.event_type)


def event_public(record: EventRecord) -> Event:
    return public(
        Event,
        record,
        event=record.event_type,
        data=payload_data(record.payload),
        deliveries=[delivery_public(d) for d in record.deliveries],
    )


@router.post("", status_code=202, response_model=EventAccepted)
async def send_event(
    tenant_id: TenantDep,
    body: EventCreate,
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=MAX_CLIENT_ID_CHARS,
            pattern=CLIENT_ID_PATTERN,
            description="Repeat it to get the first event back instead of a new one.",
        ),
    ] = None,
) -> Response:
    """Trigger an event: stored with one delivery per matching webhook before this answers."""
    services = await get_services(request)
    accepted = await services.events.trigger(tenant_id, body, idempotency_key)
    answer = EventAccepted.model_construct(
        id=accepted.event.id,
        event=accepted.event.event_type,
        triggered_at=accepted.event.triggered_at,
        deliveries=accepted.deliveries,
        hint=accepted.hint,
    )
    # Serialised here, from a model built without validation: it is made of a
    # stored record, and this is the hottest route (FastAPI would validate and
    # encode it again). The OpenAPI answer is still EventAccepted.
    return Response(
        answer.model_dump_json(by_alias=True),
        status_code=202,
        media_type="application/json",
        headers=None if accepted.created else {"Idempotent-Replayed": "true"},
    )


@router.get("")
async def list_events(
    tenant_id: TenantDep,
    services: ServicesDep,
    limit: Limit = None,
    cursor: Cursor = None,
    event: Annotated[str | None, Query(description="Only events of this type.")] = None,
) -> EventList:
    """The tenant's events, newest first, with each delivery's state."""
    page = await services.events.list(tenant_id, limit, cursor, event)
    return EventList(data=[event_public(e) for e in page.items], next_cursor=page.next_cursor)


@router.get("/{event_id}")
async def get_event(tenant_id: TenantDep, event_id: str, services: ServicesDep) -> Event:
    """One event with its deliveries."""
    return event_public(await services.events.get(tenant_id, event_id))
