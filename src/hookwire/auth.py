"""Who is calling: the admin, or one tenant. Keys are checked against hashes only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hookwire.crypto import same_secret
from hookwire.errors import NotFound
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


async def authenticate(
    storage: Storage, configured_admin_key: str | None, key: str
) -> Principal | None:
    """The principal a key belongs to, or None. Every call looks the key up in the
    database, so a key revoked by any process stops working at once."""
    if configured_admin_key and same_secret(key, configured_admin_key):
        return ADMIN
    record = await storage.find_api_key(key)
    if record is None:
        return None
    if record.tenant_id is None and configured_admin_key:
        # A stored admin key stops counting once the operator configures one.
        return None
    now = utcnow()
    if touch_due(record.last_used_at, now):
        await storage.touch_api_key(record.id, now, unless_since=now - _TOUCH_INTERVAL)
    return Principal(tenant_id=record.tenant_id, api_key_id=record.id)


def check_tenant_access(principal: Principal, tenant_id: str) -> None:
    """A tenant key sees other tenants as absent: 404, not 403, so ids do not leak."""
    if not principal.may_act_on(tenant_id):
        raise NotFound(f"tenant {tenant_id!r} not found")
