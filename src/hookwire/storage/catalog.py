"""Tenants, their API keys, and the global event-type catalogue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hookwire.crypto import hash_api_key
from hookwire.errors import Conflict, NotFound
from hookwire.ids import new_id
from hookwire.records import ApiKey, EventType, Page, Tenant
from hookwire.storage import tables as t
from hookwire.storage.base import Keyset, StorageBase, utcnow

# Keys start with "hw_tenant_" or "hw_admin_": 16 characters leave at least six
# random ones, enough to tell a tenant's keys apart in a list.
API_KEY_PREFIX_CHARS = 16


def _tenant(row: sa.Row[Any]) -> Tenant:
    return Tenant(id=row.id, name=row.name, created_at=row.created_at, updated_at=row.updated_at)


def _api_key(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


def _event_type(row: sa.Row[Any]) -> EventType:
    return EventType(
        name=row.name,
        description=row.description,
        schema=row.schema,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class CatalogStore(StorageBase):
    """Operations on tenants, API keys and event types."""

    # --- tenants -----------------------------------------------------------

    async def create_tenant(self, name: str, tenant_id: str | None = None) -> Tenant:
        now = utcnow()
        tenant = Tenant(id=tenant_id or new_id("ten"), name=name, created_at=now, updated_at=now)
        try:
            async with self.write() as conn:
                await conn.execute(
                    t.tenants.insert().values(
                        id=tenant.id, name=name, created_at=now, updated_at=now
                    )
                )
        except IntegrityError:
            raise Conflict(f"a tenant with id {tenant.id!r} already exists") from None
        return tenant

    async def get_tenant(self, tenant_id: str) -> Tenant:
        async with self.read() as conn:
            row = (
                await conn.execute(t.tenants.select().where(t.tenants.c.id == tenant_id))
            ).first()
        if row is None:
            raise NotFound(f"tenant {tenant_id!r} not found")
        return _tenant(row)

    async def list_tenants(self, limit: int | None, cursor: str | None) -> Page[Tenant]:
        keyset = Keyset((t.tenants.c.created_at, t.tenants.c.id), limit, cursor)
        async with self.read() as conn:
            rows = (await conn.execute(keyset.select(t.tenants.select()))).all()
        return keyset.page(rows, _tenant)

    async def update_tenant(self, tenant_id: str, name: str) -> Tenant:
        async with self.write() as conn:
            result = await conn.execute(
                t.tenants.update()
                .where(t.tenants.c.id == tenant_id)
                .values(name=name, updated_at=utcnow())
            )
            if result.rowcount == 0:
                raise NotFound(f"tenant {tenant_id!r} not found")
            # Workers show the name in chat-format messages.
            await self._announce(conn, "tenant", [tenant_id])
        self.signals.changed("tenant", [tenant_id])
        return await self.get_tenant(tenant_id)

    async def delete_tenant(self, tenant_id: str) -> None:
        """Delete a tenant and, by cascade, its keys, webhooks, events and logs."""
        async with self.write() as conn:
            # Children first: SQLite and PostgreSQL both cascade, but doing it
            # explicitly keeps the cost visible and the order deterministic.
            # Log entries go by webhook, which their index leads with.
            tenant_webhooks = sa.select(t.webhooks.c.id).where(t.webhooks.c.tenant_id == tenant_id)
            gone = list((await conn.execute(tenant_webhooks)).scalars())
            await conn.execute(
                t.log_entries.delete().where(t.log_entries.c.webhook_id.in_(tenant_webhooks))
            )
            for table in (t.deliveries, t.events, t.webhooks, t.dashboard_sessions, t.api_keys):
                await conn.execute(table.delete().where(table.c.tenant_id == tenant_id))
            result = await conn.execute(t.tenants.delete().where(t.tenants.c.id == tenant_id))
            if result.rowcount == 0:
                raise NotFound(f"tenant {tenant_id!r} not found")
            await self._announce(conn, "webhook", gone)
            await self._announce(conn, "tenant", [tenant_id])
        self.signals.changed("webhook", gone)
        self.signals.changed("tenant", [tenant_id])

    # --- API keys ----------------------------------------------------------

    async def create_api_key(self, key: str, tenant_id: str | None, name: str) -> ApiKey:
        """Store the hash of ``key`` for a tenant (or an admin key when ``tenant_id`` is None)."""
        record = ApiKey(
            id=new_id("key"),
            tenant_id=tenant_id,
            name=name,
            prefix=key[:API_KEY_PREFIX_CHARS],
            created_at=utcnow(),
        )
        try:
            async with self.write() as conn:
                await conn.execute(
                    t.api_keys.insert().values(
                        id=record.id,
                        tenant_id=tenant_id,
                        name=name,
                        key_hash=hash_api_key(key),
                        prefix=record.prefix,
                        created_at=record.created_at,
                    )
                )
        except IntegrityError:
            if tenant_id is not None:
                await self.get_tenant(tenant_id)
            raise Conflict("this API key is already registered") from None
        return record

    async def find_api_key(self, key: str) -> ApiKey | None:
        """The stored key ``key`` is, or None; found by its hash."""
        async with self.read() as conn:
            row = (
                await conn.execute(
                    t.api_keys.select().where(t.api_keys.c.key_hash == hash_api_key(key))
                )
            ).first()
        return None if row is None else _api_key(row)

    async def list_api_keys(
        self, tenant_id: str, limit: int | None, cursor: str | None
    ) -> Page[ApiKey]:
        """A tenant's keys in creation order (never the keys or their hashes)."""
        keyset = Keyset((t.api_keys.c.created_at, t.api_keys.c.id), limit, cursor)
        query = keyset.select(t.api_keys.select().where(t.api_keys.c.tenant_id == tenant_id))
        async with self.read() as conn:
            rows = (await conn.execute(query)).all()
        return keyset.page(rows, _api_key)

    async def delete_api_key(self, tenant_id: str, key_id: str) -> None:
        """Revoke a tenant's key, and with it every dashboard session signed in with it."""
        async with self.write() as conn:
            await self.require_owned(conn, t.api_keys, key_id, tenant_id, "API key")
            # The foreign key cascades too; deleting explicitly keeps it visible.
            await conn.execute(
                t.dashboard_sessions.delete().where(t.dashboard_sessions.c.api_key_id == key_id)
            )
            await conn.execute(t.api_keys.delete().where(t.api_keys.c.id == key_id))
            await self._announce(conn, "api_key", [key_id])
        self.signals.changed("api_key", [key_id])

    async def touch_api_key(self, key_id: str, now: datetime, unless_since: datetime) -> bool:
        """Set the key's ``last_used_at`` to ``now`` unless it is already at or after
        ``unless_since``; whether it was written.

        The condition is in the statement, so processes racing to touch the same
        key write it once.
        """
        column = t.api_keys.c.last_used_at
        async with self.write() as conn:
            result = await conn.execute(
                t.api_keys.update()
                .where(t.api_keys.c.id == key_id, sa.or_(column.is_(None), column < unless_since))
                .values(last_used_at=now)
            )
        return bool(result.rowcount)

    async def has_admin_key(self) -> bool:
        async with self.read() as conn:
            count = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(t.api_keys)
                .where(t.api_keys.c.tenant_id.is_(None))
            )
        return bool(count)

    # --- event types -------------------------------------------------------

    async def create_event_type(
        self, name: str, description: str, schema: dict[str, Any] | None
    ) -> EventType:
        now = utcnow()
        try:
            async with self.write() as conn:
                await conn.execute(
                    t.event_types.insert().values(
                        name=name,
                        description=description,
                        schema=schema,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise Conflict(f"event type {name!r} already exists") from None
        return EventType(name, description, schema, now, now)

    async def get_event_type(self, name: str) -> EventType:
        async with self.read() as conn:
            row = (
                await conn.execute(t.event_types.select().where(t.event_types.c.name == name))
            ).first()
        if row is None:
            raise NotFound(f"event type {name!r} not found")
        return _event_type(row)

    async def list_event_types(self, limit: int | None, cursor: str | None) -> Page[EventType]:
        keyset = Keyset((t.event_types.c.name,), limit, cursor)
        async with self.read() as conn:
            rows = (await conn.execute(keyset.select(t.event_types.select()))).all()
        return keyset.page(rows, _event_type)

    async def existing_event_types(self, names: list[str]) -> set[str]:
        """Which of ``names`` are in the catalogue."""
        if not names:
            return set()
        async with self.read() as conn:
            rows = await conn.execute(
                sa.select(t.event_types.c.name).where(t.event_types.c.name.in_(names))
            )
            return {r.name for r in rows}

    async def update_event_type(self, name: str, changes: dict[str, Any]) -> EventType:
        """Apply ``changes`` (``description``, ``schema``) to an event type."""
        async with self.write() as conn:
            result = await conn.execute(
                t.event_types.update()
                .where(t.event_types.c.name == name)
                .values(**changes, updated_at=utcnow())
            )
            if result.rowcount == 0:
                raise NotFound(f"event type {name!r} not found")
            await self._announce(conn, "event_type", [name])
        self.signals.changed("event_type", [name])
        return await self.get_event_type(name)

    async def delete_event_type(self, name: str) -> None:
        """Remove a type from the catalogue. Past events keep their type name."""
        async with self.write() as conn:
            result = await conn.execute(t.event_types.delete().where(t.event_types.c.name == name))
            if result.rowcount == 0:
                raise NotFound(f"event type {name!r} not found")
            await self._announce(conn, "event_type", [name])
        self.signals.changed("event_type", [name])
