"""The queue and webhook counts ``/metrics`` exports, read in one short transaction."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from hookwire.metrics import QueueStats
from hookwire.storage import tables as t
from hookwire.storage.base import StorageBase, utcnow

_d = t.deliveries
_due = _d.c.next_attempt_at <= sa.bindparam("now", type_=_d.c.next_attempt_at.type)
# Over the pending deliveries only: the partial index ix_deliveries_due serves it.
_QUEUE = sa.select(
    sa.func.count(),
    sa.func.coalesce(sa.func.sum(sa.case((_due, 1), else_=0)), 0),
    # Typed, so that SQLite's text comes back as an aware datetime.
    sa.type_coerce(sa.func.min(sa.case((_due, _d.c.next_attempt_at))), t.UTCDateTime()),
).where(_d.c.state == "pending")
_WEBHOOKS = sa.select(t.webhooks.c.status, sa.func.count()).group_by(t.webhooks.c.status)


class StatsStore(StorageBase):
    """Counts for the metrics, bounded by the database timeout like every read."""

    async def queue_stats(self) -> QueueStats:
        now = utcnow()
        async with self.read() as conn:
            pending, due, oldest = (await conn.execute(_QUEUE, {"now": now})).one()
            webhooks = {status: count for status, count in await conn.execute(_WEBHOOKS)}
        return QueueStats(
            due_now=int(due),
            due_later=int(pending) - int(due),
            oldest_due_age_seconds=_age(oldest, now),
            webhooks=webhooks,
        )


def _age(oldest: datetime | None, now: datetime) -> float:
    return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
