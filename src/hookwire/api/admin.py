"""Admin routes: the event-type catalogue, tenants and their API keys."""

from __future__ import annotations

from fastapi import APIRouter, Response

from hookwire.api.deps import AdminDep, Cursor, Limit, ServicesDep
from hookwire.api.models import (
    ApiKey,
    ApiKeyCreated,
    ApiKeyList,
    EventType,
    EventTypeList,
    Tenant,
    TenantList,
    public,
)
from hookwire.records import EventType as EventTypeRecord
from hookwire.service.inputs import (
    ApiKeyCreate,
    EventTypeCreate,
    EventTypeUpdate,
    TenantCreate,
    TenantUpdate,
)

router = APIRouter(prefix="/v1")


def _event_type(record: EventTypeRecord) -> EventType:
    return public(EventType, record, schema_=record.schema)


@router.post("/event-types", status_code=201, tags=["event types"])
async def create_event_type(body: EventTypeCreate, services: ServicesDep, _: AdminDep) -> EventType:
    """Add an event type to the catalogue."""
    return _event_type(await services.catalog.create(body))


@router.get("/event-types", tags=["event types"])
async def list_event_types(
    services: ServicesDep, _: AdminDep, limit: Limit = None, cursor: Cursor = None
) -> EventTypeList:
    """The catalogue, by name."""
    page = await services.catalog.list(limit, cursor)
    return EventTypeList(data=[_event_type(e) for e in page.items], next_cursor=page.next_cursor)


@router.get("/event-types/{name}", tags=["event types"])
async def get_event_type(name: str, services: ServicesDep, _: AdminDep) -> EventType:
    """One event type."""
    return _event_type(await services.catalog.get(name))


@router.patch("/event-types/{name}", tags=["event types"])
async def update_event_type(
    name: str, body: EventTypeUpdate, services: ServicesDep, _: AdminDep
) -> EventType:
    """Change an event type's description or schema (`schema: null` removes it)."""
    return _event_type(await services.catalog.update(name, body))


@router.delete("/event-types/{name}", status_code=204, tags=["event types"])
async def delete_event_type(name: str, services: ServicesDep, _: AdminDep) -> Response:
    """Remove an event type; events already accepted keep their type name."""
    await services.catalog.delete(name)
    return Response(status_code=204)


@router.post("/tenants", status_code=201, tags=["tenants"])
async def create_tenant(body: TenantCreate, services: ServicesDep, _: AdminDep) -> Tenant:
    """Create a tenant (a customer account of the platform)."""
    return public(Tenant, await services.tenants.create(body))


@router.get("/tenants", tags=["tenants"])
async def list_tenants(
    services: ServicesDep, _: AdminDep, limit: Limit = None, cursor: Cursor = None
) -> TenantList:
    """Tenants in creation order."""
    page = await services.tenants.list(limit, cursor)
    return TenantList(data=[public(Tenant, t) for t in page.items], next_cursor=page.next_cursor)


@router.get("/tenants/{tenant_id}", tags=["tenants"])
async def get_tenant(tenant_id: str, services: ServicesDep, _: AdminDep) -> Tenant:
    """One tenant."""
    return public(Tenant, await services.tenants.get(tenant_id))


@router.patch("/tenants/{tenant_id}", tags=["tenants"])
async def update_tenant(
    tenant_id: str, body: TenantUpdate, services: ServicesDep, _: AdminDep
) -> Tenant:
    """Rename a tenant."""
    return public(Tenant, await services.tenants.update(tenant_id, body))


@router.delete("/tenants/{tenant_id}", status_code=204, tags=["tenants"])
async def delete_tenant(tenant_id: str, services: ServicesDep, _: AdminDep) -> Response:
    """Delete a tenant with its keys, webhooks, events and logs."""
    await services.tenants.delete(tenant_id)
    return Response(status_code=204)


@router.post("/tenants/{tenant_id}/api-keys", status_code=201, tags=["tenants"])
async def create_api_key(
    tenant_id: str, services: ServicesDep, _: AdminDep, body: ApiKeyCreate | None = None
) -> ApiKeyCreated:
    """A key for one tenant. The key is in this answer only; hookwire keeps its hash."""
    created = await services.tenants.create_key(tenant_id, body or ApiKeyCreate())
    return public(ApiKeyCreated, created.record, key=created.key)


@router.get("/tenants/{tenant_id}/api-keys", tags=["tenants"])
async def list_api_keys(
    tenant_id: str, services: ServicesDep, _: AdminDep, limit: Limit = None, cursor: Cursor = None
) -> ApiKeyList:
    """A tenant's keys in creation order: name, prefix and use, never the keys themselves."""
    page = await services.tenants.list_keys(tenant_id, limit, cursor)
    return ApiKeyList(data=[public(ApiKey, k) for k in page.items], next_cursor=page.next_cursor)


@router.delete("/tenants/{tenant_id}/api-keys/{key_id}", status_code=204, tags=["tenants"])
async def revoke_api_key(
    tenant_id: str, key_id: str, services: ServicesDep, _: AdminDep
) -> Response:
    """Revoke a key at once: its next request gets 401 and its dashboard sessions end."""
    await services.tenants.revoke_key(tenant_id, key_id)
    return Response(status_code=204)
