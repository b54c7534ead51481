"""Who is calling: the admin, or one tenant. Keys are checked against hashes only."""

from __future__ import annotations

from dataclasses import dataclass

from hookwire.crypto import same_secret
from hookwire.storage import NotFound, Storage


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: ``tenant_id`` is None for the admin."""

    tenant_id: str | None

    @property
    def is_admin(self) -> bool:
        return self.tenant_id is None

    def may_act_on(self, tenant_id: str) -> bool:
        return self.is_admin or self.tenant_id == tenant_id


ADMIN = Principal(tenant_id=None)


async def authenticate(
    storage: Storage, configured_admin_key: str | None, key: str
) -> Principal | None:
    """The principal a key belongs to, or None."""
    if configured_admin_key and same_secret(key, configured_admin_key):
        return ADMIN
    record = await storage.find_api_key(key)
    if record is None:
        return None
    if record.tenant_id is None:
        # A stored admin key stops counting once the operator configures one.
        return None if configured_admin_key else ADMIN
    return Principal(tenant_id=record.tenant_id)


def check_tenant_access(principal: Principal, tenant_id: str) -> None:
    """A tenant key sees other tenants as absent: 404, not 403, so ids do not leak."""
    if not principal.may_act_on(tenant_id):
        raise NotFound(f"tenant {tenant_id!r} not found")
