"""Migration 0006 numbers the deliveries an older hookwire stored, in the order they were stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hookwire.crypto import TokenCipher
from hookwire.payload import build_payload
from hookwire.storage import Storage
from hookwire.storage.migrate import migrate
from hookwire.storage.tables import UTCDateTime
from tests.conftest import SECRET_KEY, insert_old_event, insert_old_webhook, upgrade_to

NOW = datetime.now(UTC)
# Stored in this order; their ids and times sort otherwise on purpose.
OLDER_DELIVERIES = (("dlv_c", 0), ("dlv_a", 1), ("dlv_b", 2))


async def _store_as_0005(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        token = TokenCipher(SECRET_KEY).encrypt("tok-0123456789")
        await insert_old_webhook(
            conn, NOW, {"token": token}, ordering="'fifo'", format="'hookwire'"
        )
        await insert_old_event(conn, NOW)
        for delivery_id, seconds in OLDER_DELIVERIES:
            created = sa.bindparam("created", NOW + timedelta(seconds=seconds), UTCDateTime())
            await conn.execute(
                sa.text(
                    "INSERT INTO deliveries (id, tenant_id, event_id, webhook_id, event_type, "
                    "state, attempts, next_attempt_at, next_trigger, created_at, updated_at) "
                    "VALUES (:id, 'acme', 'evt_1', 'wh_1', 'license.created', 'pending', 0, "
                    ":created, 'scheduled', :created, :created)"
                ).bindparams(created),
                {"id": delivery_id},
            )


async def _seqs(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT id, seq FROM deliveries"))
        return {row.id: row.seq for row in rows}


async def test_older_deliveries_are_numbered_in_stored_order_and_new_ones_after(
    blank_engine: AsyncEngine,
) -> None:
    await upgrade_to(blank_engine, "0005")
    await _store_as_0005(blank_engine)
    await migrate(blank_engine)

    seqs = await _seqs(blank_engine)
    # Stored in this order, and (on PostgreSQL, which keeps no insertion
    # order) created in it too: both rules give the same queue.
    assert sorted(seqs, key=seqs.__getitem__) == [d for d, _ in OLDER_DELIVERIES]

    storage = Storage(blank_engine, TokenCipher(SECRET_KEY))
    event, _ = await storage.accept_event(
        "acme", None, "license.created", build_payload("license.created", {}, NOW), NOW
    )
    [new] = event.deliveries
    assert (await _seqs(blank_engine))[new.id] > max(seqs.values())
