"""Tenant routes for the event log and manual actions: logs, deliveries, resend, test, recover."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hookwire import service
from hookwire.api.deps import Cursor, Limit, Since, StorageDep, TenantDep, Until
from hookwire.api.events import delivery_public, event_public
from hookwire.api.models import (
    DeliveryDetail,
    DeliveryPublic,
    EventPublic,
    ListResponse,
    LogEntryPublic,
    RecoverRequest,
    RecoverResult,
)
from hookwire.records import LogEntry

router = APIRouter(prefix="/v1/tenants/{tenant_id}", tags=["event log"])


def log_entry_public(record: LogEntry) -> LogEntryPublic:
    return LogEntryPublic(
        id=record.id,
        delivery_id=record.delivery_id,
        webhook_id=record.webhook_id,
        event_id=record.event_id,
        event=record.event_type,
        attempt=record.attempt,
        trigger=record.trigger,
        sent_at=record.sent_at,
        received_at=record.received_at,
        duration_ms=record.duration_ms,
        status_code=record.status_code,
        success=record.success,
        retry_reason=record.retry_reason,
        error=record.error,
        request_headers=record.request_headers,
        response_headers=record.response_headers,
        response_body=record.response_body,
    )


@router.get("/webhooks/{webhook_id}/logs")
async def list_webhook_logs(
    tenant_id: TenantDep,
    webhook_id: str,
    storage: StorageDep,
    limit: Limit = None,
    cursor: Cursor = None,
    event: Annotated[str | None, Query(description="Only this event type.")] = None,
    status_code: Annotated[
        int | None, Query(alias="statusCode", ge=100, le=599, description="Only this status.")
    ] = None,
    success: Annotated[bool | None, Query(description="Only successes, or failures.")] = None,
    since: Since = None,
    until: Until = None,
) -> ListResponse[LogEntryPublic]:
    """The webhook's event log, newest first: one entry per request."""
    page = await storage.list_webhook_logs(
        tenant_id,
        webhook_id,
        limit=limit,
        cursor=cursor,
        event_type=event,
        status_code=status_code,
        success=success,
        since=since,
        until=until,
    )
    return ListResponse(
        data=[log_entry_public(e) for e in page.items], next_cursor=page.next_cursor
    )


@router.get("/deliveries/{delivery_id}")
async def get_delivery(
    tenant_id: TenantDep, delivery_id: str, storage: StorageDep
) -> DeliveryDetail:
    """One delivery with every request made for it, oldest first."""
    delivery = await storage.get_delivery(tenant_id, delivery_id)
    logs = await storage.list_delivery_logs(tenant_id, delivery_id)
    return DeliveryDetail(
        **delivery_public(delivery).model_dump(),
        logs=[log_entry_public(e) for e in logs],
    )


@router.post("/deliveries/{delivery_id}/resend", status_code=202)
async def resend_delivery(
    tenant_id: TenantDep, delivery_id: str, storage: StorageDep
) -> DeliveryPublic:
    """Send this delivery again now, whatever its state."""
    return delivery_public(await service.resend_delivery(storage, tenant_id, delivery_id))


@router.post("/webhooks/{webhook_id}/test", status_code=202)
async def send_test_event(
    tenant_id: TenantDep, webhook_id: str, storage: StorageDep
) -> EventPublic:
    """Send a `webhook.test` event to this webhook alone, whatever it subscribes to."""
    return event_public(await service.send_test_event(storage, tenant_id, webhook_id))


@router.post("/webhooks/{webhook_id}/recover", status_code=202)
async def recover_webhook(
    tenant_id: TenantDep, webhook_id: str, body: RecoverRequest, storage: StorageDep
) -> RecoverResult:
    """Resend every failed or skipped delivery of this webhook created since `since`."""
    count = await service.recover_webhook(storage, tenant_id, webhook_id, body.since)
    return RecoverResult(deliveries=count)
