"""Tenants (the platform's customer accounts) and the API keys that act for them."""

from __future__ import annotations

from dataclasses import dataclass

from hookwire.ids import new_api_key
from hookwire.records import ApiKey, Page, Tenant
from hookwire.service.inputs import ApiKeyCreate, TenantCreate, TenantUpdate
from hookwire.storage import Storage


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key just created: ``key`` itself exists only here; hookwire keeps its hash."""

    record: ApiKey
    key: str


class Tenants:
    """Tenants and their keys; every operation on a tenant's keys first finds the tenant."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def create(self, new: TenantCreate) -> Tenant:
        """Create a tenant, with the id given or a generated one."""
        return await self._storage.create_tenant(new.name, new.id)

    async def list(self, limit: int | None = None, cursor: str | None = None) -> Page[Tenant]:
        """A page of tenants, in creation order."""
        return await self._storage.list_tenants(limit, cursor)

    async def get(self, tenant_id: str) -> Tenant:
        """One tenant."""
        return await self._storage.get_tenant(tenant_id)

    async def update(self, tenant_id: str, changes: TenantUpdate) -> Tenant:
        """Rename a tenant."""
        return await self._storage.update_tenant(tenant_id, changes.name)

    async def delete(self, tenant_id: str) -> None:
        """Delete a tenant with its keys, sessions, webhooks, events and logs."""
        await self._storage.delete_tenant(tenant_id)

    async def create_key(self, tenant_id: str, new: ApiKeyCreate) -> NewApiKey:
        """A key for one tenant, shown this once."""
        await self._storage.get_tenant(tenant_id)
        key = new_api_key("tenant")
        return NewApiKey(await self._storage.create_api_key(key, tenant_id, new.name), key)

    async def list_keys(
        self, tenant_id: str, limit: int | None = None, cursor: str | None = None
    ) -> Page[ApiKey]:
        """A page of the tenant's keys in creation order: names and prefixes, never keys."""
        await self._storage.get_tenant(tenant_id)
        return await self._storage.list_api_keys(tenant_id, limit, cursor)

    async def revoke_key(self, tenant_id: str, key_id: str) -> None:
        """Revoke a key at once: its next request is refused and its sessions end."""
        await self._storage.get_tenant(tenant_id)
        await self._storage.delete_api_key(tenant_id, key_id)
