"""Operational events, written in the transaction that records what they are about.

:mod:`hookwire.operational` decides which events a recorded batch emits;
this module stores them as :mod:`~hookwire.storage.accept` stores any event
(the same fan-out, rows and wake-up), inside the caller's transaction: if the
batch rolls back, so do they, and a batch recorded once emits them once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hookwire import operational
from hookwire.ids import new_id
from hookwire.operational import DELIVERY_EXHAUSTED
from hookwire.payload import build_payload
from hookwire.records import AttemptResult
from hookwire.storage import tables as t
from hookwire.storage.accept import fan_out, insert_events, tenants_webhooks
from hookwire.storage.dialects import Dialect

_W = t.webhooks
_D = t.deliveries
# The deliveries this very transaction finished: ``record_attempts`` stamps them
# with its ``now``. A batch recorded again (a retry after a commit whose answer
# was lost) finds them finished earlier and emits nothing more about them.
_FAILED_NOW = sa.select(_D.c.id).where(
    _D.c.id.in_(sa.bindparam("ids", expanding=True)),
    _D.c.state == "failed",
    _D.c.updated_at == sa.bindparam("now", type_=_D.c.updated_at.type),
)
_SUBJECTS = sa.select(_W.c.id, _W.c.name, _W.c.url, _W.c.status).where(
    _W.c.id.in_(sa.bindparam("ids", expanding=True))
)


async def emit_notices(
    conn: AsyncConnection,
    dialect: Dialect,
    results: Sequence[AttemptResult],
    moves: Iterable[operational.Move],
    now: datetime,
) -> int:
    """Store the operational events of a recorded batch; how many deliveries they made.

    Costs nothing more than a pass over ``results`` unless something is emitted.
    """
    notices = operational.plan(results, moves)
    exhausted = [n.delivery.delivery_id for n in notices if n.event_type == DELIVERY_EXHAUSTED]
    if exhausted:
        found = await conn.execute(_FAILED_NOW, {"ids": exhausted, "now": now})
        now_failed = set(found.scalars())
        notices = [
            n
            for n in notices
            if n.event_type != DELIVERY_EXHAUSTED or n.delivery.delivery_id in now_failed
        ]
    if not notices:
        return 0
    subjects = {
        row.id: {"id": row.id, "name": row.name, "url": row.url, "status": row.status}
        for row in await conn.execute(_SUBJECTS, {"ids": sorted({n.webhook_id for n in notices})})
    }
    hooks = await tenants_webhooks(conn, {n.tenant_id for n in notices})
    events, deliveries, logs = [], [], []
    for notice in notices:
        subject = subjects.get(notice.webhook_id)
        if subject is None:
            continue
        event_id = new_id("evt")
        data = operational.notice_data(notice, subject)
        events.append(
            {
                "tenant_id": notice.tenant_id,
                "id": event_id,
                "event_type": notice.event_type,
                "payload": build_payload(notice.event_type, data, now),
                "idempotency_key": None,
                "triggered_at": now,
            }
        )
        # Never to the webhook the event is about: it is the one failing.
        receivers = [h for h in hooks.get(notice.tenant_id, []) if h.id != notice.webhook_id]
        rows, skipped = fan_out(notice.tenant_id, event_id, notice.event_type, now, receivers)
        deliveries.extend(rows)
        logs.extend(skipped)
    if events:
        await insert_events(conn, dialect, events, deliveries, logs)
    return len(deliveries)
