"""Group commit: concurrent accept_event calls share transactions, each answered correctly."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from hookwire.errors import NotFound
from hookwire.storage import Storage
from hookwire.storage.tables import deliveries, events
from tests.test_storage import WEBHOOK


def _count_commits(storage: Storage) -> list[int]:
    commits = [0]

    def on_commit(_conn: Any) -> None:
        commits[0] += 1

    sa.event.listen(storage.engine.sync_engine, "commit", on_commit)
    return commits


async def _accept(storage: Storage, tenant: str = "acme", **kwargs: Any) -> Any:
    now = datetime.now(UTC)
    return await storage.accept_event(tenant, None, "license.created", b"{}", now, **kwargs)


async def test_concurrent_events_are_written_in_few_transactions(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    await storage.create_webhook("acme", WEBHOOK)
    await storage.create_webhook("acme", {**WEBHOOK, "events": ["*"]})
    commits = _count_commits(storage)
    results = await asyncio.gather(*(_accept(storage) for _ in range(50)))
    assert all(created for _, created in results)
    assert len({event.id for event, _ in results}) == 50
    assert all(len(event.deliveries) == 2 for event, _ in results)
    # One transaction for the first caller, then the 49 that queued meanwhile.
    assert commits[0] <= 5
    async with storage.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(events)) == 50
        assert await conn.scalar(sa.select(sa.func.count()).select_from(deliveries)) == 100
    for event, _ in results:  # what the callers got is what was stored
        stored = await storage.get_event("acme", event.id)
        assert [d.id for d in stored.deliveries] == [d.id for d in event.deliveries]


async def test_a_collision_in_a_shared_transaction_spares_the_others(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    await storage.create_webhook("acme", WEBHOOK)
    first, _ = await _accept(storage, idempotency_key="order-1")
    # The repeat skips the read-side check only when it races; force it into a
    # batch with fresh events by starting them together.
    results = await asyncio.gather(
        _accept(storage),
        _accept(storage, idempotency_key="order-2"),
        _accept(storage, idempotency_key="order-2"),
        _accept(storage),
    )
    created = [event.id for event, was_created in results if was_created]
    repeated = [event.id for event, was_created in results if not was_created]
    assert len(created) == 3 and len(repeated) == 1
    assert repeated[0] in created  # the second "order-2" got the first one back
    assert first.id not in created
    async with storage.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(events)) == 4


async def test_an_unknown_tenant_fails_alone(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    await storage.create_webhook("acme", WEBHOOK)
    results = await asyncio.gather(
        _accept(storage),
        _accept(storage, tenant="ghost"),
        _accept(storage),
        return_exceptions=True,
    )
    assert isinstance(results[1], NotFound)
    assert all(isinstance(r, tuple) and r[1] for r in (results[0], results[2]))


async def test_a_cancelled_caller_does_not_stall_the_others(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    await storage.create_webhook("acme", WEBHOOK)
    tasks = [asyncio.create_task(_accept(storage)) for _ in range(10)]
    # One pass of the event loop (not a timed wait): every caller queues its
    # event and the first one starts writing as the leader, then is cancelled.
    await asyncio.sleep(0)
    tasks[0].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[0], asyncio.CancelledError)
    assert all(isinstance(r, tuple) and r[1] for r in done[1:])
    async with storage.read() as conn:
        stored = await conn.scalar(sa.select(sa.func.count()).select_from(events))
    assert stored in (9, 10)  # the cancelled one may have been written before it was cancelled


async def test_a_lone_caller_gets_one_transaction(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    commits = _count_commits(storage)
    await _accept(storage)
    assert commits[0] == 1
