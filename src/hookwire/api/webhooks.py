"""Tenant routes for webhooks."""

from __future__ import annotations

from fastapi import APIRouter, Response

from hookwire.api.deps import Cursor, Limit, ServicesDep, TenantDep
from hookwire.api.models import Blocker, Webhook, WebhookList, public
from hookwire.masking import mask_headers, mask_token
from hookwire.records import Blocker as BlockerRecord
from hookwire.records import Webhook as WebhookRecord
from hookwire.service import Services
from hookwire.service.inputs import WebhookCreate, WebhookUpdate

router = APIRouter(prefix="/v1/tenants/{tenant_id}/webhooks", tags=["webhooks"])


def webhook_public(
    record: WebhookRecord, *, full_token: bool, blocker: BlockerRecord | None = None
) -> Webhook:
    """The webhook as the API shows it; lists (``full_token=False``) mask its secrets."""
    blocked_by = public(Blocker, blocker, event=blocker.event_type) if blocker else None
    if full_token:
        return public(Webhook, record, blocked_by=blocked_by)
    return public(
        Webhook,
        record,
        token=mask_token(record.token),
        headers=mask_headers(record.headers),
        blocked_by=blocked_by,
    )


async def _shown(services: Services, record: WebhookRecord) -> Webhook:
    """One webhook in full, with what holds back its queue (FIFO)."""
    return webhook_public(record, full_token=True, blocker=await services.webhooks.blocker(record))


@router.post("", status_code=201)
async def create_webhook(
    tenant_id: TenantDep, body: WebhookCreate, services: ServicesDep
) -> Webhook:
    """Register a webhook. The token is generated when omitted and shown in full here."""
    return webhook_public(await services.webhooks.create(tenant_id, body), full_token=True)


@router.get("")
async def list_webhooks(
    tenant_id: TenantDep, services: ServicesDep, limit: Limit = None, cursor: Cursor = None
) -> WebhookList:
    """The tenant's webhooks in creation order; tokens are masked."""
    page = await services.webhooks.list(tenant_id, limit, cursor)
    blockers = await services.webhooks.blockers(page.items)
    return WebhookList(
        data=[webhook_public(w, full_token=False, blocker=blockers.get(w.id)) for w in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{webhook_id}")
async def get_webhook(tenant_id: TenantDep, webhook_id: str, services: ServicesDep) -> Webhook:
    """One webhook, with its token."""
    return await _shown(services, await services.webhooks.get(tenant_id, webhook_id))


@router.patch("/{webhook_id}")
async def update_webhook(
    tenant_id: TenantDep, webhook_id: str, body: WebhookUpdate, services: ServicesDep
) -> Webhook:
    """Change some fields. Setting `active: true` on a suspended webhook re-activates it."""
    record = await services.webhooks.update(tenant_id, webhook_id, body)
    return await _shown(services, record)


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(tenant_id: TenantDep, webhook_id: str, services: ServicesDep) -> Response:
    """Delete a webhook with its deliveries and event log."""
    await services.webhooks.delete(tenant_id, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-token")
async def rotate_webhook_token(
    tenant_id: TenantDep, webhook_id: str, services: ServicesDep
) -> Webhook:
    """A new token; the old one keeps signing (beside the new) for the grace period."""
    record = await services.webhooks.rotate_token(tenant_id, webhook_id)
    return await _shown(services, record)
