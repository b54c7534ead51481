"""Tenant routes for webhooks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Response

from hookwire.api.deps import Cursor, Limit, SettingsDep, StorageDep, TenantDep
from hookwire.api.models import (
    WEBHOOK_NULLABLE,
    ListResponse,
    WebhookCreate,
    WebhookPublic,
    WebhookUpdate,
)
from hookwire.api.problems import Problem
from hookwire.masking import mask_headers, mask_token
from hookwire.records import Webhook
from hookwire.service import check_webhook_url
from hookwire.signing import generate_token
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from hookwire.validation import unknown_event_types

router = APIRouter(prefix="/v1/tenants/{tenant_id}/webhooks", tags=["webhooks"])


def webhook_public(record: Webhook, *, full_token: bool) -> WebhookPublic:
    """The webhook as the API shows it; lists (``full_token=False``) mask its secrets."""
    return WebhookPublic(
        id=record.id,
        tenant_id=record.tenant_id,
        name=record.name,
        description=record.description,
        url=record.url,
        token=record.token if full_token else mask_token(record.token),
        events=record.events,
        active=record.active,
        headers=record.headers if full_token else mask_headers(record.headers),
        signature_scheme=record.signature_scheme,
        max_concurrency=record.max_concurrency,
        rate_limit=record.rate_limit,
        status=record.status,
        last_delivery_at=record.last_delivery_at,
        last_status_code=record.last_status_code,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


async def check_event_names(storage: Storage, events: list[str]) -> None:
    """422 naming every event type that is not in the catalogue."""
    missing = unknown_event_types(events, await storage.existing_event_types(events))
    if missing:
        names = ", ".join(repr(m) for m in missing)
        raise Problem(
            422,
            f"unknown event types: {names}; add them to the catalogue first "
            '(POST /v1/event-types) or use ["*"]',
            errors=[{"field": "events", "message": f"unknown event types: {names}"}],
        )


@router.post("", status_code=201)
async def create_webhook(
    tenant_id: TenantDep, body: WebhookCreate, storage: StorageDep, settings: SettingsDep
) -> WebhookPublic:
    """Register a webhook. The token is generated when omitted and shown in full here."""
    check_webhook_url(body.url, allow_private=settings.allow_private_networks)
    await check_event_names(storage, body.events)
    fields: dict[str, Any] = body.model_dump()
    fields["token"] = body.token or generate_token(body.signature_scheme)
    record = await storage.create_webhook(tenant_id, fields)
    return webhook_public(record, full_token=True)


@router.get("")
async def list_webhooks(
    tenant_id: TenantDep, storage: StorageDep, limit: Limit = None, cursor: Cursor = None
) -> ListResponse[WebhookPublic]:
    """The tenant's webhooks in creation order; tokens are masked."""
    page = await storage.list_webhooks(tenant_id, limit, cursor)
    return ListResponse(
        data=[webhook_public(w, full_token=False) for w in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{webhook_id}")
async def get_webhook(tenant_id: TenantDep, webhook_id: str, storage: StorageDep) -> WebhookPublic:
    """One webhook, with its token."""
    return webhook_public(await storage.get_webhook(tenant_id, webhook_id), full_token=True)


@router.patch("/{webhook_id}")
async def update_webhook(
    tenant_id: TenantDep,
    webhook_id: str,
    body: WebhookUpdate,
    storage: StorageDep,
    settings: SettingsDep,
) -> WebhookPublic:
    """Change some fields. Setting `active: true` on a suspended webhook re-activates it."""
    changes = body.model_dump(exclude_unset=True)
    nulls = [k for k, v in changes.items() if v is None and k not in WEBHOOK_NULLABLE]
    if nulls:
        raise Problem(
            422,
            f"these fields cannot be null: {', '.join(nulls)}",
            errors=[{"field": k, "message": "cannot be null"} for k in nulls],
        )
    if changes.get("url") is not None:
        check_webhook_url(changes["url"], allow_private=settings.allow_private_networks)
    if "events" in changes:
        await check_event_names(storage, changes["events"])
    if not changes:
        return await get_webhook(tenant_id, webhook_id, storage)
    record = await storage.update_webhook(tenant_id, webhook_id, changes)
    return webhook_public(record, full_token=True)


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(tenant_id: TenantDep, webhook_id: str, storage: StorageDep) -> Response:
    """Delete a webhook with its deliveries and event log."""
    await storage.delete_webhook(tenant_id, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-token")
async def rotate_token(
    tenant_id: TenantDep, webhook_id: str, storage: StorageDep, settings: SettingsDep
) -> WebhookPublic:
    """A new token; the old one keeps signing (beside the new) for the grace period."""
    current = await storage.get_webhook(tenant_id, webhook_id)
    grace_until = utcnow() + timedelta(seconds=settings.token_grace_seconds)
    token = generate_token(current.signature_scheme)
    record = await storage.rotate_webhook_token(tenant_id, webhook_id, token, grace_until)
    return webhook_public(record, full_token=True)
