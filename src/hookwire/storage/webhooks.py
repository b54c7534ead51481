"""Webhooks: a tenant's endpoints, with tokens encrypted at rest."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hookwire.enums import BodyFormat, Ordering, SignatureScheme, WebhookStatus
from hookwire.errors import NotFound
from hookwire.ids import new_id
from hookwire.records import Page, Webhook
from hookwire.storage import tables as t
from hookwire.storage.base import Keyset, StorageBase, utcnow

# Fields a caller may set on create or change with update; the rest is owned
# by hookwire (status, failure tracking, version, timestamps).
WEBHOOK_SETTABLE = frozenset(
    {
        "name",
        "description",
        "url",
        "token",
        "events",
        "active",
        "headers",
        "signature_scheme",
        "max_concurrency",
        "rate_limit",
        "ordering",
        "format",
    }
)


class WebhookStore(StorageBase):
    """Operations on webhooks."""

    def _webhook(self, row: sa.Row[Any]) -> Webhook:
        previous = row.previous_token_encrypted
        return Webhook(
            id=row.id,
            tenant_id=row.tenant_id,
            name=row.name,
            description=row.description,
            url=row.url,
            token=self.cipher.decrypt(row.token_encrypted),
            previous_token=self.cipher.decrypt(previous) if previous else None,
            previous_token_expires_at=row.previous_token_expires_at,
            events=list(row.events),
            active=row.active,
            headers=self._decrypt_headers(row.headers_encrypted),
            signature_scheme=SignatureScheme(row.signature_scheme),
            max_concurrency=row.max_concurrency,
            rate_limit=row.rate_limit,
            ordering=Ordering(row.ordering),
            format=BodyFormat(row.format),
            status=WebhookStatus(row.status),
            failing_since=row.failing_since,
            last_delivery_at=row.last_delivery_at,
            last_status_code=row.last_status_code,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _columns(self, fields: dict[str, Any]) -> dict[str, Any]:
        unknown = set(fields) - WEBHOOK_SETTABLE
        if unknown:
            raise ValueError(f"not settable on a webhook: {sorted(unknown)}")
        values = dict(fields)
        if "token" in values:
            values["token_encrypted"] = self.cipher.encrypt(values.pop("token"))
        if "headers" in values:
            values["headers_encrypted"] = self._encrypt_headers(values.pop("headers"))
        return values

    def _encrypt_headers(self, headers: dict[str, str]) -> str | None:
        return self.cipher.encrypt(json.dumps(headers)) if headers else None

    def _decrypt_headers(self, encrypted: str | None) -> dict[str, str]:
        if encrypted is None:
            return {}
        headers: dict[str, str] = json.loads(self.cipher.decrypt(encrypted))
        return headers

    async def create_webhook(self, tenant_id: str, fields: dict[str, Any]) -> Webhook:
        """Create a webhook from validated ``fields`` (all of WEBHOOK_SETTABLE)."""
        now = utcnow()
        webhook_id = new_id("wh")
        async with self.write() as conn:
            exists = await conn.scalar(sa.select(t.tenants.c.id).where(t.tenants.c.id == tenant_id))
            if exists is None:
                raise NotFound(f"tenant {tenant_id!r} not found")
            await conn.execute(
                t.webhooks.insert().values(
                    id=webhook_id,
                    tenant_id=tenant_id,
                    status="healthy",
                    version=1,
                    created_at=now,
                    updated_at=now,
                    **self._columns(fields),
                )
            )
        return await self.get_webhook(tenant_id, webhook_id)

    async def get_webhook(self, tenant_id: str, webhook_id: str) -> Webhook:
        async with self.read() as conn:
            row = (
                await conn.execute(
                    t.webhooks.select().where(
                        t.webhooks.c.id == webhook_id, t.webhooks.c.tenant_id == tenant_id
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"webhook {webhook_id!r} not found")
        return self._webhook(row)

    async def list_webhooks(
        self, tenant_id: str, limit: int | None, cursor: str | None
    ) -> Page[Webhook]:
        keyset = Keyset((t.webhooks.c.created_at, t.webhooks.c.id), limit, cursor)
        query = keyset.select(t.webhooks.select().where(t.webhooks.c.tenant_id == tenant_id))
        async with self.read() as conn:
            rows = (await conn.execute(query)).all()
        return keyset.page(rows, self._webhook)

    async def update_webhook(
        self, tenant_id: str, webhook_id: str, fields: dict[str, Any]
    ) -> Webhook:
        """Apply validated changes. Re-activating a suspended webhook makes it healthy again."""
        values = self._columns(fields)
        if fields.get("active") is True:
            values["status"] = sa.case(
                (t.webhooks.c.status == "suspended", "healthy"), else_=t.webhooks.c.status
            )
            values["failing_since"] = sa.case(
                (t.webhooks.c.status == "suspended", None), else_=t.webhooks.c.failing_since
            )
        async with self.write() as conn:
            result = await conn.execute(
                t.webhooks.update()
                .where(t.webhooks.c.id == webhook_id, t.webhooks.c.tenant_id == tenant_id)
                .values(**values, version=t.webhooks.c.version + 1, updated_at=utcnow())
            )
            if result.rowcount == 0:
                raise NotFound(f"webhook {webhook_id!r} not found")
            await self._announce(conn, "webhook", [webhook_id])
        self.signals.changed("webhook", [webhook_id])
        return await self.get_webhook(tenant_id, webhook_id)

    async def rotate_webhook_token(
        self, tenant_id: str, webhook_id: str, new_token: str, grace_until: datetime
    ) -> Webhook:
        """Replace the token; the old one keeps signing until ``grace_until``."""
        async with self.write() as conn:
            result = await conn.execute(
                t.webhooks.update()
                .where(t.webhooks.c.id == webhook_id, t.webhooks.c.tenant_id == tenant_id)
                .values(
                    previous_token_encrypted=t.webhooks.c.token_encrypted,
                    previous_token_expires_at=grace_until,
                    token_encrypted=self.cipher.encrypt(new_token),
                    version=t.webhooks.c.version + 1,
                    updated_at=utcnow(),
                )
            )
            if result.rowcount == 0:
                raise NotFound(f"webhook {webhook_id!r} not found")
            await self._announce(conn, "webhook", [webhook_id])
        self.signals.changed("webhook", [webhook_id])
        return await self.get_webhook(tenant_id, webhook_id)

    async def delete_webhook(self, tenant_id: str, webhook_id: str) -> None:
        """Delete a webhook with its deliveries and log entries."""
        async with self.write() as conn:
            await self.require_owned(conn, t.webhooks, webhook_id, tenant_id, "webhook")
            await conn.execute(
                t.log_entries.delete().where(t.log_entries.c.webhook_id == webhook_id)
            )
            await conn.execute(t.deliveries.delete().where(t.deliveries.c.webhook_id == webhook_id))
            await conn.execute(t.webhooks.delete().where(t.webhooks.c.id == webhook_id))
            await self._announce(conn, "webhook", [webhook_id])
        self.signals.changed("webhook", [webhook_id])
