"""Who is calling: the admin, or one tenant. Keys are checked against hashes only."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hookwire.crypto import hash_api_key, same_secret
from hookwire.errors import NotFound
from hookwire.records import ApiKey, Tenant
from hookwire.service.cache import ReadCache
from hookwire.storage import Storage
from hookwire.storage.base import utcnow

# A key's lastUsedAt is this coarse: authenticating writes it at most once per
# interval, so a busy key does not turn every request into a database write.
API_KEY_TOUCH_INTERVAL_SECONDS = 60
_TOUCH_INTERVAL = timedelta(seconds=API_KEY_TOUCH_INTERVAL_SECONDS)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: ``tenant_id`` is None for the admin.

    ``api_key_id`` is the stored key it authenticated with: None for the
    operator's configured admin key, which is not stored.
    """

    tenant_id: str | None
    api_key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.tenant_id is None

    def may_act_on(self, tenant_id: str) -> bool:
        return self.is_admin or self.tenant_id == tenant_id


ADMIN = Principal(tenant_id=None)


def touch_due(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether a key used at ``now`` should have its ``last_used_at`` written again."""
    return last_used_at is None or now - last_used_at >= _TOUCH_INTERVAL


def check_tenant_access(principal: Principal, tenant_id: str) -> None:
    """A tenant key sees other tenants as absent: 404, not 403, so ids do not leak."""
    if not principal.may_act_on(tenant_id):
        raise NotFound(f"tenant {tenant_id!r} not found")


class Auth:
    """API keys to principals, and which tenant a principal may act on."""

    def __init__(self, storage: Storage, configured_admin_key: str | None) -> None:
        self._storage = storage
        self._admin_key = configured_admin_key
        # By the key's hash; and the tenants known to exist (service/cache.py
        # says how long each is trusted, and what drops it).
        self._keys: ReadCache[str, ApiKey] = ReadCache()
        self._tenants: ReadCache[str, bool] = ReadCache()

    async def authenticate(self, key: str) -> Principal | None:
        """The principal a key belongs to, or None.

        A key is looked up in the database once and then kept (``ReadCache``):
        a revoked key stops working at once on the process that revoked it and
        on the others as soon as they hear the change, within
        ``MAX_AGE_SECONDS`` at most.
        """
        if self._admin_key and same_secret(key, self._admin_key):
            return ADMIN
        digest = hash_api_key(key)
        record = await self._keys.get_or_load(digest, lambda: self._storage.find_api_key(key))
        if record is None:
            return None
        if record.tenant_id is None and self._admin_key:
            # A stored admin key stops counting once the operator configures one.
            return None
        now = utcnow()
        if touch_due(record.last_used_at, now):
            await self._storage.touch_api_key(record.id, now, unless_since=now - _TOUCH_INTERVAL)
            self._keys.update(digest, replace(record, last_used_at=now))
        return Principal(tenant_id=record.tenant_id, api_key_id=record.id)

    async def check_tenant(self, principal: Principal, tenant_id: str) -> None:
        """NotFound unless ``principal`` may act on ``tenant_id`` and the tenant exists.

        A tenant key's own tenant exists as long as the key does (deleting a
        tenant deletes its keys), so only the admin's calls look it up, and
        a tenant found is kept like a key.
        """
        check_tenant_access(principal, tenant_id)
        if principal.is_admin:
            await self._tenants.get_or_load(tenant_id, lambda: self._tenant_exists(tenant_id))

    async def _tenant_exists(self, tenant_id: str) -> bool:
        await self._storage.get_tenant(tenant_id)  # NotFound if not
        return True

    def changed(self, kind: str, ident: str) -> None:
        """A change notice: forget what it may have made untrue."""
        if kind == "api_key":
            self._keys.clear()  # kept by hash, not id; revocations are rare
        elif kind == "tenant":
            self._keys.clear()  # the tenant's keys went with it
            self._tenants.drop(ident)

    def forget_all(self) -> None:
        self._keys.clear()
        self._tenants.clear()

    async def visible_tenant(self, principal: Principal, tenant_id: str) -> Tenant:
        """The tenant, once ``principal`` may see it (NotFound otherwise, as for none)."""
        check_tenant_access(principal, tenant_id)
        return await self._storage.get_tenant(tenant_id)
