"""Tenant routes for the event log and manual actions: logs, deliveries, resend, test, recover."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hookwire.api.deps import Cursor, Limit, ServicesDep, Since, TenantDep, Until
from hookwire.api.events import delivery_public
from hookwire.api.models import (
    Delivery,
    DeliveryDetail,
    EventAccepted,
    LogEntry,
    LogEntryList,
    RecoverResult,
    public,
)
from hookwire.records import LogEntry as LogEntryRecord
from hookwire.service.deliveries import LogFilter
from hookwire.service.inputs import RecoverRequest

router = APIRouter(prefix="/v1/tenants/{tenant_id}", tags=["event log"])


def log_entry_public(record: LogEntryRecord) -> LogEntry:
    return public(LogEntry, record, event=record.event_type)


@router.get("/webhooks/{webhook_id}/logs")
async def list_webhook_logs(
    tenant_id: TenantDep,
    webhook_id: str,
    services: ServicesDep,
    limit: Limit = None,
    cursor: Cursor = None,
    event: Annotated[str | None, Query(description="Only this event type.")] = None,
    status_code: Annotated[
        int | None, Query(alias="statusCode", ge=100, le=599, description="Only this status.")
    ] = None,
    success: Annotated[bool | None, Query(description="Only successes, or failures.")] = None,
    since: Since = None,
    until: Until = None,
) -> LogEntryList:
    """The webhook's event log, newest first: one entry per request."""
    filters = LogFilter(
        event_type=event, status_code=status_code, success=success, since=since, until=until
    )
    page = await services.deliveries.webhook_log(tenant_id, webhook_id, filters, limit, cursor)
    return LogEntryList(
        data=[log_entry_public(e) for e in page.items], next_cursor=page.next_cursor
    )


@router.get("/deliveries/{delivery_id}")
async def get_delivery(
    tenant_id: TenantDep, delivery_id: str, services: ServicesDep
) -> DeliveryDetail:
    """One delivery with every request made for it, oldest first."""
    found = await services.deliveries.get(tenant_id, delivery_id)
    return public(
        DeliveryDetail,
        found.delivery,
        event=found.delivery.event_type,
        logs=[log_entry_public(e) for e in found.logs],
    )


@router.post("/deliveries/{delivery_id}/resend", status_code=202)
async def resend_delivery(
    tenant_id: TenantDep, delivery_id: str, services: ServicesDep
) -> Delivery:
    """Send this delivery again now, whatever its state."""
    return delivery_public(await services.deliveries.resend(tenant_id, delivery_id))


@router.post("/webhooks/{webhook_id}/test", status_code=202)
async def send_test_event(
    tenant_id: TenantDep, webhook_id: str, services: ServicesDep
) -> EventAccepted:
    """Send a `webhook.test` event to this webhook alone, whatever it subscribes to.

    Answered like `sendEvent`; `GET …/events/{eventId}` shows its delivery.
    """
    event = await services.events.send_test(tenant_id, webhook_id)
    return EventAccepted(
        id=event.id,
        event=event.event_type,
        triggered_at=event.triggered_at,
        deliveries=len(event.deliveries),
    )


@router.post("/webhooks/{webhook_id}/recover", status_code=202)
async def recover_webhook(
    tenant_id: TenantDep, webhook_id: str, body: RecoverRequest, services: ServicesDep
) -> RecoverResult:
    """Resend every failed or skipped delivery of this webhook created since `since`."""
    count = await services.deliveries.recover(tenant_id, webhook_id, body.since)
    return RecoverResult(deliveries=count)
