"""Deliveries and the event log: reading them, and sending them again by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hookwire.errors import Invalid
from hookwire.records import Delivery, LogEntry, Page
from hookwire.storage import Storage


@dataclass(frozen=True, slots=True)
class DeliveryLog:
    """One delivery with every request made for it, oldest first."""

    delivery: Delivery
    logs: list[LogEntry]


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which of a webhook's log entries to list; None matches any.

    ``since`` is inclusive and ``until`` exclusive, on when the request finished.
    """

    event_type: str | None = None
    status_code: int | None = None
    success: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


class Deliveries:
    """A tenant's deliveries and event log; resend and recover queue deliveries again."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def get(self, tenant_id: str, delivery_id: str) -> DeliveryLog:
        """A delivery with its log entries."""
        delivery = await self._storage.get_delivery(tenant_id, delivery_id)
        logs = await self._storage.list_delivery_logs(tenant_id, delivery_id)
        return DeliveryLog(delivery, logs)

    async def resend(self, tenant_id: str, delivery_id: str) -> Delivery:
        """Queue one delivery again now, whatever its state; logged as a manual resend."""
        return await self._storage.resend_delivery(tenant_id, delivery_id)

    async def recover(self, tenant_id: str, webhook_id: str, since: datetime) -> int:
        """Queue again every failed or skipped delivery of a webhook since ``since``; how many.

        ``since`` must carry its time zone: a bare local time would pick a
        different window on every server.
        """
        if since.tzinfo is None:
            raise Invalid.one("since", "give a time zone, e.g. 2024-05-01T00:00:00Z")
        return await self._storage.recover_webhook(tenant_id, webhook_id, since)

    async def webhook_log(
        self,
        tenant_id: str,
        webhook_id: str,
        filters: LogFilter | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[LogEntry]:
        """A page of the webhook's event log, newest first: one entry per request."""
        wanted = filters or LogFilter()
        return await self._storage.list_webhook_logs(
            tenant_id,
            webhook_id,
            limit=limit,
            cursor=cursor,
            event_type=wanted.event_type,
            status_code=wanted.status_code,
            success=wanted.success,
            since=wanted.since,
            until=wanted.until,
        )

    async def pending(self, tenant_id: str, webhook_id: str) -> list[Delivery]:
        """The webhook's deliveries still pending (new, retrying, resent or recovered)."""
        return await self._storage.list_pending_deliveries(tenant_id, webhook_id)
