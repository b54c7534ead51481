"""The event log: one entry per HTTP request of a delivery (and per skip)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hookwire.enums import Trigger
from hookwire.records import AttemptResult, LogEntry, Page
from hookwire.storage import tables as t
from hookwire.storage.base import Keyset, StorageBase
from hookwire.storage.batch import Executemany


def log_entry_record(row: sa.Row[Any]) -> LogEntry:
    return LogEntry(
        id=row.id,
        tenant_id=row.tenant_id,
        delivery_id=row.delivery_id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        event_type=row.event_type,
        attempt=row.attempt,
        trigger=Trigger(row.trigger),
        sent_at=row.sent_at,
        received_at=row.received_at,
        duration_ms=row.duration_ms,
        status_code=row.status_code,
        success=row.success,
        retry_reason=row.retry_reason,
        error=row.error,
        request_headers=dict(row.request_headers),
        response_headers=None if row.response_headers is None else dict(row.response_headers),
        response_body=row.response_body,
        created_at=row.created_at,
        request_body=row.request_body,
    )


# The columns of log_entry_rows' values, in their order.
LOG_ENTRY_COLUMNS = (
    "id",
    "tenant_id",
    "delivery_id",
    "webhook_id",
    "event_id",
    "event_type",
    "attempt",
    "trigger",
    "sent_at",
    "received_at",
    "duration_ms",
    "status_code",
    "success",
    "retry_reason",
    "error",
    "request_headers",
    "response_headers",
    "response_body",
    "request_body",
    "created_at",
)


def log_entry_rows(results: Sequence[AttemptResult]) -> list[tuple[Any, ...]]:
    """The log_entries rows of finished attempts, values in ``LOG_ENTRY_COLUMNS`` order."""
    return [
        (
            r.log_id,
            r.tenant_id,
            r.delivery_id,
            r.webhook_id,
            r.event_id,
            r.event_type,
            r.attempt,
            r.trigger,
            r.sent_at,
            r.received_at,
            r.duration_ms,
            r.status_code,
            r.success,
            r.retry_reason,
            r.error,
            r.request_headers,
            r.response_headers,
            r.response_body,
            r.request_body,
            r.finished_at,
        )
        for r in results
    ]


class LogStore(StorageBase):
    """Reading the event log (writing it is part of recording attempts)."""

    @functools.cached_property
    def _log_batch(self) -> Executemany:
        return Executemany(t.log_entries.insert(), self.engine.dialect, LOG_ENTRY_COLUMNS)

    async def list_delivery_logs(self, tenant_id: str, delivery_id: str) -> list[LogEntry]:
        """A delivery's log entries, oldest first; NotFound for another tenant's delivery."""
        logs = t.log_entries
        async with self.read() as conn:
            await self.require_owned(conn, t.deliveries, delivery_id, tenant_id, "delivery")
            rows = (
                await conn.execute(
                    logs.select()
                    .where(logs.c.delivery_id == delivery_id)
                    .order_by(logs.c.created_at, logs.c.id)
                )
            ).all()
        return [log_entry_record(r) for r in rows]

    async def list_webhook_logs(
        self,
        tenant_id: str,
        webhook_id: str,
        *,
        limit: int | None,
        cursor: str | None,
        event_type: str | None = None,
        status_code: int | None = None,
        success: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page[LogEntry]:
        """A webhook's event log, newest first, optionally filtered.

        ``since`` is inclusive and ``until`` exclusive, both on the time the
        attempt finished. NotFound for another tenant's webhook.
        """
        logs = t.log_entries
        keyset = Keyset((logs.c.created_at, logs.c.id), limit, cursor, descending=True)
        query = logs.select().where(logs.c.webhook_id == webhook_id, logs.c.tenant_id == tenant_id)
        for condition in (
            None if event_type is None else logs.c.event_type == event_type,
            None if status_code is None else logs.c.status_code == status_code,
            None if success is None else logs.c.success.is_(success),
            None if since is None else logs.c.created_at >= since,
            None if until is None else logs.c.created_at < until,
        ):
            if condition is not None:
                query = query.where(condition)
        async with self.read() as conn:
            await self.require_owned(conn, t.webhooks, webhook_id, tenant_id, "webhook")
            rows = (await conn.execute(keyset.select(query))).all()
        return keyset.page(rows, log_entry_record)
