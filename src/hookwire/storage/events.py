"""Events: reading them back (accepting them is in :mod:`hookwire.storage.accept`)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hookwire.enums import DeliveryState, Trigger
from hookwire.errors import NotFound
from hookwire.records import Delivery, Event, Page
from hookwire.storage import tables as t
from hookwire.storage.base import Keyset, StorageBase

SKIPPED_ERROR = "skipped: the webhook is suspended"


def delivery_record(row: sa.Row[Any]) -> Delivery:
    return Delivery(
        id=row.id,
        tenant_id=row.tenant_id,
        event_id=row.event_id,
        webhook_id=row.webhook_id,
        event_type=row.event_type,
        state=DeliveryState(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        next_trigger=Trigger(row.next_trigger),
        retry_reason=row.retry_reason,
        last_status_code=row.last_status_code,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _event(row: sa.Row[Any], deliveries: list[Delivery] | None = None) -> Event:
    return Event(
        tenant_id=row.tenant_id,
        id=row.id,
        event_type=row.event_type,
        payload=bytes(row.payload),
        idempotency_key=row.idempotency_key,
        triggered_at=row.triggered_at,
        deliveries=deliveries or [],
    )


class EventStore(StorageBase):
    """Operations on events."""

    async def _find_repeat(
        self, tenant_id: str, event_id: str | None, idempotency_key: str | None
    ) -> Event | None:
        conditions = []
        if event_id is not None:
            conditions.append(t.events.c.id == event_id)
        if idempotency_key is not None:
            conditions.append(t.events.c.idempotency_key == idempotency_key)
        if not conditions:
            return None
        async with self.read() as conn:
            found = await conn.scalar(
                sa.select(t.events.c.id)
                .where(t.events.c.tenant_id == tenant_id, sa.or_(*conditions))
                .limit(1)
            )
        return None if found is None else await self.get_event(tenant_id, found)

    async def get_event(self, tenant_id: str, event_id: str) -> Event:
        """One event with its deliveries."""
        async with self.read() as conn:
            row = (
                await conn.execute(
                    t.events.select().where(
                        t.events.c.tenant_id == tenant_id, t.events.c.id == event_id
                    )
                )
            ).first()
            if row is None:
                raise NotFound(f"event {event_id!r} not found")
            deliveries = (
                await conn.execute(
                    t.deliveries.select()
                    .where(
                        t.deliveries.c.tenant_id == tenant_id,
                        t.deliveries.c.event_id == event_id,
                    )
                    .order_by(t.deliveries.c.id)
                )
            ).all()
        return _event(row, [delivery_record(d) for d in deliveries])

    async def list_events(
        self,
        tenant_id: str,
        limit: int | None,
        cursor: str | None,
        event_type: str | None = None,
    ) -> Page[Event]:
        """A tenant's events, newest first, each with its deliveries."""
        keyset = Keyset((t.events.c.triggered_at, t.events.c.id), limit, cursor, descending=True)
        query = t.events.select().where(t.events.c.tenant_id == tenant_id)
        if event_type is not None:
            query = query.where(t.events.c.event_type == event_type)
        async with self.read() as conn:
            rows = (await conn.execute(keyset.select(query))).all()
            ids = [r.id for r in keyset.shown(rows)]
            by_event: dict[str, list[Delivery]] = {i: [] for i in ids}
            if ids:
                for d in await conn.execute(
                    t.deliveries.select()
                    .where(t.deliveries.c.tenant_id == tenant_id, t.deliveries.c.event_id.in_(ids))
                    .order_by(t.deliveries.c.id)
                ):
                    by_event[d.event_id].append(delivery_record(d))
        return keyset.page(rows, lambda r: _event(r, by_event[r.id]))
