"""Admin routes: the event-type catalogue, tenants and their API keys."""

from __future__ import annotations

from fastapi import APIRouter, Response

from hookwire.api.deps import AdminDep, Cursor, Limit, StorageDep
from hookwire.api.models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    EventTypeCreate,
    EventTypePublic,
    EventTypeUpdate,
    ListResponse,
    TenantCreate,
    TenantPublic,
    TenantUpdate,
)
from hookwire.ids import new_api_key
from hookwire.records import ApiKey, EventType, Tenant
from hookwire.validation import check_json_schema

router = APIRouter(prefix="/v1")


def _event_type(record: EventType) -> EventTypePublic:
    return EventTypePublic(
        name=record.name,
        description=record.description,
        schema_=record.schema,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _api_key(record: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=record.id,
        tenant_id=record.tenant_id,
        name=record.name,
        prefix=record.prefix,
        created_at=record.created_at,
        last_used_at=record.last_used_at,
    )


def _tenant(record: Tenant) -> TenantPublic:
    return TenantPublic(
        id=record.id, name=record.name, created_at=record.created_at, updated_at=record.updated_at
    )


@router.post("/event-types", status_code=201, tags=["event types"])
async def create_event_type(
    body: EventTypeCreate, storage: StorageDep, _: AdminDep
) -> EventTypePublic:
    """Add an event type to the catalogue."""
    if body.schema_ is not None:
        check_json_schema(body.schema_)
    return _event_type(await storage.create_event_type(body.name, body.description, body.schema_))


@router.get("/event-types", tags=["event types"])
async def list_event_types(
    storage: StorageDep, _: AdminDep, limit: Limit = None, cursor: Cursor = None
) -> ListResponse[EventTypePublic]:
    """The catalogue, by name."""
    page = await storage.list_event_types(limit, cursor)
    return ListResponse(data=[_event_type(e) for e in page.items], next_cursor=page.next_cursor)


@router.get("/event-types/{name}", tags=["event types"])
async def get_event_type(name: str, storage: StorageDep, _: AdminDep) -> EventTypePublic:
    """One event type."""
    return _event_type(await storage.get_event_type(name))


@router.patch("/event-types/{name}", tags=["event types"])
async def update_event_type(
    name: str, body: EventTypeUpdate, storage: StorageDep, _: AdminDep
) -> EventTypePublic:
    """Change an event type's description or schema (`schema: null` removes it)."""
    changes = body.model_dump(exclude_unset=True)
    if "schema_" in changes:
        changes["schema"] = changes.pop("schema_")
        if changes["schema"] is not None:
            check_json_schema(changes["schema"])
    if "description" in changes and changes["description"] is None:
        changes["description"] = ""  # null clears it, as "" does
    if not changes:
        return _event_type(await storage.get_event_type(name))
    return _event_type(await storage.update_event_type(name, changes))


@router.delete("/event-types/{name}", status_code=204, tags=["event types"])
async def delete_event_type(name: str, storage: StorageDep, _: AdminDep) -> Response:
    """Remove an event type; events already accepted keep their type name."""
    await storage.delete_event_type(name)
    return Response(status_code=204)


@router.post("/tenants", status_code=201, tags=["tenants"])
async def create_tenant(body: TenantCreate, storage: StorageDep, _: AdminDep) -> TenantPublic:
    """Create a tenant (a customer account of the platform)."""
    return _tenant(await storage.create_tenant(body.name, body.id))


@router.get("/tenants", tags=["tenants"])
async def list_tenants(
    storage: StorageDep, _: AdminDep, limit: Limit = None, cursor: Cursor = None
) -> ListResponse[TenantPublic]:
    """Tenants in creation order."""
    page = await storage.list_tenants(limit, cursor)
    return ListResponse(data=[_tenant(t) for t in page.items], next_cursor=page.next_cursor)


@router.get("/tenants/{tenant_id}", tags=["tenants"])
async def get_tenant(tenant_id: str, storage: StorageDep, _: AdminDep) -> TenantPublic:
    """One tenant."""
    return _tenant(await storage.get_tenant(tenant_id))


@router.patch("/tenants/{tenant_id}", tags=["tenants"])
async def update_tenant(
    tenant_id: str, body: TenantUpdate, storage: StorageDep, _: AdminDep
) -> TenantPublic:
    """Rename a tenant."""
    return _tenant(await storage.update_tenant(tenant_id, body.name))


@router.delete("/tenants/{tenant_id}", status_code=204, tags=["tenants"])
async def delete_tenant(tenant_id: str, storage: StorageDep, _: AdminDep) -> Response:
    """Delete a tenant with its keys, webhooks, events and logs."""
    await storage.delete_tenant(tenant_id)
    return Response(status_code=204)


@router.post("/tenants/{tenant_id}/api-keys", status_code=201, tags=["tenants"])
async def create_api_key(
    tenant_id: str, storage: StorageDep, _: AdminDep, body: ApiKeyCreate | None = None
) -> ApiKeyCreated:
    """A key for one tenant. The key is in this answer only; hookwire keeps its hash."""
    await storage.get_tenant(tenant_id)
    key = new_api_key("tenant")
    record = await storage.create_api_key(key, tenant_id, (body or ApiKeyCreate()).name)
    return ApiKeyCreated(**_api_key(record).model_dump(), key=key)


@router.get("/tenants/{tenant_id}/api-keys", tags=["tenants"])
async def list_api_keys(
    tenant_id: str, storage: StorageDep, _: AdminDep, limit: Limit = None, cursor: Cursor = None
) -> ListResponse[ApiKeyPublic]:
    """A tenant's keys in creation order: name, prefix and use, never the keys themselves."""
    await storage.get_tenant(tenant_id)
    page = await storage.list_api_keys(tenant_id, limit, cursor)
    return ListResponse(data=[_api_key(k) for k in page.items], next_cursor=page.next_cursor)


@router.delete("/tenants/{tenant_id}/api-keys/{key_id}", status_code=204, tags=["tenants"])
async def revoke_api_key(tenant_id: str, key_id: str, storage: StorageDep, _: AdminDep) -> Response:
    """Revoke a key at once: its next request gets 401 and its dashboard sessions end."""
    await storage.get_tenant(tenant_id)
    await storage.delete_api_key(tenant_id, key_id)
    return Response(status_code=204)
