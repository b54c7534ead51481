"""The worker's serving loop: wake-ups, per-webhook limits, skipping, suspension."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa

from hookwire.config import Settings
from hookwire.crypto import TokenCipher
from hookwire.delivery import Worker
from hookwire.storage import Storage, create_engine
from tests.conftest import SECRET_KEY, postgresql_only
from tests.receivers import Receiver, hang, make_webhook, ok, quick, send_event

# Long enough that only a wake-up, never a poll, can explain a prompt delivery.
NO_POLLING = 300.0


@asynccontextmanager
async def running(storage: Storage, settings: Settings) -> AsyncIterator[Worker]:
    worker = Worker(storage, settings)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        await worker.stop()
        await task


async def test_a_new_event_wakes_the_worker_in_process(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver:
        await make_webhook(storage, receiver.url)
        async with running(storage, quick(settings, poll_interval_seconds=NO_POLLING)):
            await send_event(storage)
            await receiver.wait_for(lambda r: len(r.requests) == 1)
            await send_event(storage)
            await receiver.wait_for(lambda r: len(r.requests) == 2)


@postgresql_only
async def test_notify_wakes_a_worker_of_another_process(
    storage: Storage, settings: Settings, database_url: str
) -> None:
    other_process = Storage(create_engine(database_url), TokenCipher(SECRET_KEY))
    try:
        async with Receiver() as receiver:
            await make_webhook(storage, receiver.url)
            async with running(storage, quick(settings, poll_interval_seconds=NO_POLLING)):
                await send_event(other_process)
                await receiver.wait_for(lambda r: len(r.requests) == 1)
    finally:
        await other_process.close()


async def listening_backends(storage: Storage) -> list[int]:
    async with storage.engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN %'"
            )
        )
        return [row.pid for row in rows]


@postgresql_only
async def test_the_listen_connection_comes_back_after_it_is_lost(
    storage: Storage, settings: Settings, database_url: str
) -> None:
    other_process = Storage(create_engine(database_url), TokenCipher(SECRET_KEY))
    try:
        async with Receiver() as receiver:
            await make_webhook(storage, receiver.url)
            async with running(storage, quick(settings, poll_interval_seconds=NO_POLLING)):
                async with asyncio.timeout(10):
                    while not (lost := await listening_backends(storage)):
                        await asyncio.sleep(0.02)
                async with storage.engine.connect() as conn:
                    await conn.execute(sa.text(f"SELECT pg_terminate_backend({lost[0]})"))
                async with asyncio.timeout(10):
                    while (await listening_backends(storage)) in ([], lost):
                        await asyncio.sleep(0.02)
                await send_event(other_process)
                await receiver.wait_for(lambda r: len(r.requests) == 1)
    finally:
        await other_process.close()


async def test_a_retry_due_soon_is_sent_without_waiting_for_a_poll(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver:
        receiver.answer(ok(500))
        await make_webhook(storage, receiver.url)
        async with running(storage, quick(settings, poll_interval_seconds=NO_POLLING)):
            await send_event(storage)
            await receiver.wait_for(lambda r: len(r.requests) == 2)


async def test_a_slow_webhook_does_not_delay_a_fast_one(
    storage: Storage, settings: Settings
) -> None:
    events = 20
    async with Receiver(default=hang()) as slow, Receiver() as fast:
        await make_webhook(storage, slow.url, max_concurrency=2)
        await make_webhook(storage, fast.url)
        for _ in range(events):
            await send_event(storage)
        async with running(storage, quick(settings, request_timeout_seconds=60)):
            await fast.wait_for(lambda r: len(r.requests) == events)
            # Everything for the fast webhook arrived while the slow one still
            # held its first two requests, and was sent nothing more.
            assert (slow.in_progress, len(slow.requests)) == (2, 2)
            slow.release.set()
            await slow.wait_for(lambda r: len(r.requests) == events)


async def test_max_concurrency_caps_requests_in_flight(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver(default=hang()) as receiver:
        await make_webhook(storage, receiver.url, max_concurrency=3)
        for _ in range(8):
            await send_event(storage)
        async with Worker(storage, quick(settings, request_timeout_seconds=60)) as worker:
            idle = asyncio.create_task(worker.run_until_idle())
            await receiver.wait_for(lambda r: r.in_progress == 3)
            peak = 0

            def track(r: Receiver) -> bool:
                nonlocal peak
                peak = max(peak, r.in_progress)
                return len(r.requests) == 8

            receiver.release.set()
            await receiver.wait_for(track)
            await idle
    assert peak <= 3


async def test_a_rate_limit_spaces_the_requests(storage: Storage, settings: Settings) -> None:
    rate, count = 20, 6
    async with Receiver() as receiver:
        await make_webhook(storage, receiver.url, rate_limit=rate)
        for _ in range(count):
            await send_event(storage)
        async with Worker(storage, quick(settings)) as worker:
            await worker.run_until_idle()
    arrivals = [r.at for r in receiver.requests]
    assert len(arrivals) == count
    # A lower bound only: the limit may make requests later, never sooner. The
    # first may itself be sent late on a busy machine, which shortens the span
    # by that delay; unlimited, the six arrive within a few milliseconds.
    assert arrivals[-1] - arrivals[0] >= (count - 1) / rate - 0.1


async def test_a_disabled_webhook_skips_its_scheduled_retries_until_recovered(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver:
        receiver.answer(ok(500))
        webhook = await make_webhook(storage, receiver.url)
        event = await send_event(storage)
        # The retry must not come due before the webhook is disabled.
        async with Worker(storage, quick(settings, retry_schedule=(0.5,))) as worker:
            await worker.run_until_idle(horizon_seconds=0)
            await storage.update_webhook("acme", webhook.id, {"active": False})
            await worker.run_until_idle()
            delivery_id = event.deliveries[0].id
            assert (await storage.get_delivery("acme", delivery_id)).state == "skipped"
            logs = await storage.list_delivery_logs("acme", delivery_id)
            assert [e.error for e in logs] == ["HTTP 500", "skipped: the webhook is disabled"]
            assert await storage.recover_webhook("acme", webhook.id, event.triggered_at) == 1
            await worker.run_until_idle()
    assert (await storage.get_delivery("acme", delivery_id)).state == "succeeded"
    assert len(receiver.requests) == 2


async def test_failing_past_the_window_suspends_and_later_events_are_skipped(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver(default=ok(500)) as receiver:
        webhook = await make_webhook(storage, receiver.url)
        await send_event(storage)
        async with Worker(storage, quick(settings, suspend_after_seconds=0.01)) as worker:
            await worker.run_until_idle()
        hook = await storage.get_webhook("acme", webhook.id)
        assert (hook.status, hook.active) == ("suspended", True)
        later = await send_event(storage)
        assert [d.state for d in later.deliveries] == ["skipped"]
        receiver.default = ok(200)
        await storage.update_webhook("acme", webhook.id, {"active": True})
        assert (await storage.get_webhook("acme", webhook.id)).status == "healthy"
        assert await storage.recover_webhook("acme", webhook.id, later.triggered_at) == 1
        async with Worker(storage, quick(settings)) as worker:
            await worker.run_until_idle()
    assert (await storage.get_delivery("acme", later.deliveries[0].id)).state == "succeeded"
    assert (await storage.get_webhook("acme", webhook.id)).status == "healthy"


async def test_stop_lets_in_flight_requests_finish(storage: Storage, settings: Settings) -> None:
    async with Receiver(default=hang()) as receiver:
        await make_webhook(storage, receiver.url)
        event = await send_event(storage)
        worker = Worker(storage, quick(settings, request_timeout_seconds=60))
        task = asyncio.create_task(worker.run())
        await receiver.wait_for(lambda r: r.in_progress == 1)
        stopping = asyncio.create_task(worker.stop())
        receiver.release.set()
        await stopping
        await task
    assert (await storage.get_delivery("acme", event.deliveries[0].id)).state == "succeeded"


async def test_a_webhook_deleted_mid_request_does_not_block_recording(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver(default=hang()) as gone, Receiver() as kept:
        doomed = await make_webhook(storage, gone.url)
        await make_webhook(storage, kept.url)
        event = await send_event(storage)
        async with Worker(storage, quick(settings, request_timeout_seconds=60)) as worker:
            idle = asyncio.create_task(worker.run_until_idle())
            await gone.wait_for(lambda r: r.in_progress == 1)
            await storage.delete_webhook("acme", doomed.id)
            gone.release.set()
            await idle
    [kept_delivery] = [d for d in event.deliveries if d.webhook_id != doomed.id]
    assert (await storage.get_delivery("acme", kept_delivery.id)).state == "succeeded"
