"""Events: accepting one (with its deliveries, atomically) and reading them back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hookwire.ids import new_id
from hookwire.storage import tables as t
from hookwire.storage.base import (
    NotFound,
    StorageBase,
    clamp_limit,
    encode_cursor,
    page_after,
)
from hookwire.storage.records import Delivery, Event, Page

# PostgreSQL channel on which accepted events wake the workers.
NOTIFY_CHANNEL = "hookwire_deliveries"
SKIPPED_ERROR = "skipped: the webhook is suspended"


def delivery_record(row: sa.Row[Any]) -> Delivery:
    return Delivery(
        id=row.id,
        tenant_id=row.tenant_id,
        event_id=row.event_id,
        webhook_id=row.webhook_id,
        event_type=row.event_type,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        next_trigger=row.next_trigger,
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

    async def accept_event(
        self,
        tenant_id: str,
        event_id: str | None,
        event_type: str,
        payload: bytes,
        triggered_at: datetime,
        idempotency_key: str | None = None,
        only_webhook_id: str | None = None,
    ) -> tuple[Event, bool]:
        """Store an event and one delivery per matching webhook in one transaction.

        Matching webhooks are the tenant's active ones that subscribe to the
        type (or only ``only_webhook_id``, for test events). A suspended one
        (failing for too long, or deactivated by a 410) gets a ``skipped``
        delivery with a log entry, so it can be recovered later; one a person
        disabled gets nothing, as the seed's "Enabled" checkbox promises.
        Returns ``(event, created)``; ``created`` is False when ``event_id`` or
        ``idempotency_key`` repeats an earlier event, which is returned instead.
        """
        existing = await self._find_repeat(tenant_id, event_id, idempotency_key)
        if existing is not None:
            return existing, False
        event_id = event_id or new_id("evt")
        try:
            async with self.write() as conn:
                if not await conn.scalar(
                    sa.select(t.tenants.c.id).where(t.tenants.c.id == tenant_id)
                ):
                    raise NotFound(f"tenant {tenant_id!r} not found")
                await conn.execute(
                    t.events.insert().values(
                        tenant_id=tenant_id,
                        id=event_id,
                        event_type=event_type,
                        payload=payload,
                        idempotency_key=idempotency_key,
                        triggered_at=triggered_at,
                    )
                )
                rows, logs = await self._fan_out(
                    conn, tenant_id, event_id, event_type, triggered_at, only_webhook_id
                )
                if rows:
                    await conn.execute(t.deliveries.insert(), rows)
                if logs:
                    await conn.execute(t.log_entries.insert(), logs)
                if rows and not self.is_sqlite:
                    await conn.execute(sa.text(f"NOTIFY {NOTIFY_CHANNEL}"))
        except IntegrityError:
            # A concurrent request with the same id or key won the race.
            existing = await self._find_repeat(tenant_id, event_id, idempotency_key)
            if existing is None:
                raise
            return existing, False
        self.notify_wakeup()
        # Built from what was just written: re-reading it would double the cost.
        event = Event(
            tenant_id=tenant_id,
            id=event_id,
            event_type=event_type,
            payload=payload,
            idempotency_key=idempotency_key,
            triggered_at=triggered_at,
            deliveries=[
                Delivery(**{k: v for k, v in row.items() if k != "lease_owner"})
                for row in sorted(rows, key=lambda r: str(r["id"]))
            ],
        )
        return event, True

    async def _fan_out(
        self,
        conn: Any,
        tenant_id: str,
        event_id: str,
        event_type: str,
        now: datetime,
        only_webhook_id: str | None,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        query = sa.select(
            t.webhooks.c.id, t.webhooks.c.events, t.webhooks.c.status, t.webhooks.c.active
        ).where(t.webhooks.c.tenant_id == tenant_id)
        if only_webhook_id is not None:
            query = query.where(t.webhooks.c.id == only_webhook_id)
        else:
            query = query.where(
                sa.or_(t.webhooks.c.active.is_(True), t.webhooks.c.status == "suspended")
            )
        rows: list[dict[str, Any]] = []
        logs: list[dict[str, Any]] = []
        for hook in (await conn.execute(query)).all():
            if only_webhook_id is None and "*" not in hook.events and event_type not in hook.events:
                continue
            skipped = hook.status == "suspended" and only_webhook_id is None
            delivery_id = new_id("dlv")
            rows.append(
                {
                    "id": delivery_id,
                    "tenant_id": tenant_id,
                    "event_id": event_id,
                    "webhook_id": hook.id,
                    "event_type": event_type,
                    "state": "skipped" if skipped else "pending",
                    "attempts": 0,
                    "next_attempt_at": None if skipped else now,
                    "lease_owner": None,
                    "next_trigger": "test" if only_webhook_id else "scheduled",
                    "retry_reason": None,
                    "last_status_code": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if skipped:
                logs.append(
                    {
                        "id": new_id("log"),
                        "tenant_id": tenant_id,
                        "delivery_id": delivery_id,
                        "webhook_id": hook.id,
                        "event_id": event_id,
                        "event_type": event_type,
                        "attempt": 0,
                        "trigger": "scheduled",
                        "sent_at": None,
                        "received_at": None,
                        "duration_ms": None,
                        "status_code": None,
                        "success": False,
                        "retry_reason": None,
                        "error": SKIPPED_ERROR,
                        "request_headers": {},
                        "response_headers": None,
                        "response_body": None,
                        "created_at": now,
                    }
                )
        return rows, logs

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
        limit = clamp_limit(limit)
        order = (t.events.c.triggered_at, t.events.c.id)
        query = (
            t.events.select()
            .where(t.events.c.tenant_id == tenant_id)
            .order_by(*(c.desc() for c in order))
            .limit(limit + 1)
        )
        if event_type is not None:
            query = query.where(t.events.c.event_type == event_type)
        after = page_after(order, cursor, descending=True)
        if after is not None:
            query = query.where(after)
        async with self.read() as conn:
            rows = (await conn.execute(query)).all()[: limit + 1]
            ids = [r.id for r in rows[:limit]]
            by_event: dict[str, list[Delivery]] = {i: [] for i in ids}
            if ids:
                for d in await conn.execute(
                    t.deliveries.select()
                    .where(t.deliveries.c.tenant_id == tenant_id, t.deliveries.c.event_id.in_(ids))
                    .order_by(t.deliveries.c.id)
                ):
                    by_event[d.event_id].append(delivery_record(d))
        items = [_event(r, by_event[r.id]) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor(items[-1].triggered_at, items[-1].id) if more else None)
