"""`hookwire worker` processes on PostgreSQL: killed, stopped, and several at once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from hookwire.config import Settings
from hookwire.delivery import Worker
from hookwire.payload import build_payload
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from tests.conftest import SECRET_KEY, postgresql_only
from tests.receivers import Receiver, hang, make_webhook, ok, quick, send_event

HOOKWIRE = str(Path(sys.executable).parent / "hookwire")
START_SECONDS = 30.0
WAIT_SECONDS = 60.0


# Several worker processes share one PostgreSQL; SQLite is one process's database.
pytestmark = postgresql_only


@pytest.fixture
def pg_storage(storage: Storage) -> Storage:
    assert storage.dialect.name == "postgresql"
    return storage


@asynccontextmanager
async def worker_process(
    settings: Settings, *options: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A `hookwire worker` on the test database, running once it has said so."""
    env = {
        **os.environ,
        "HOOKWIRE_DATABASE_URL": settings.database_url,
        "HOOKWIRE_SECRET_KEY": SECRET_KEY,
        "HOOKWIRE_DATA_DIR": str(settings.data_dir),
        "HOOKWIRE_ALLOW_PRIVATE_NETWORKS": "true",
    }
    process = await asyncio.create_subprocess_exec(
        HOOKWIRE, "worker", *options, env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(START_SECONDS):
            while b"is delivering" not in await process.stdout.readline():
                assert process.returncode is None, "the worker exited at start"
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def wait_until(
    check: Callable[[], Coroutine[Any, Any, bool]], timeout: float = WAIT_SECONDS
) -> None:
    """Poll ``check`` (a database query) until it holds."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def test_a_killed_workers_deliveries_are_completed_by_another(
    pg_storage: Storage, settings: Settings
) -> None:
    async with Receiver(default=hang()) as receiver:
        await make_webhook(pg_storage, receiver.url)
        events = [await send_event(pg_storage) for _ in range(3)]
        async with worker_process(settings, "--lease-seconds", "1") as process:
            await receiver.wait_for(lambda r: r.in_progress == 3)
            process.kill()  # SIGKILL, mid-delivery
            await process.wait()
        receiver.release.set()  # ends the orphaned requests' handlers
        receiver.default = ok()
        async with Worker(pg_storage, quick(settings)) as survivor:
            await survivor.run_until_idle()  # waits for the dead worker's lease to end
    for event in events:
        delivery = await pg_storage.get_delivery("acme", event.deliveries[0].id)
        assert delivery.state == "succeeded"
    ids = receiver.ids()
    assert sorted(ids) == sorted([e.deliveries[0].id for e in events] * 2)


async def test_sigterm_finishes_in_flight_requests_and_releases_the_rest(
    pg_storage: Storage, settings: Settings
) -> None:
    async with Receiver(default=hang()) as receiver:
        await make_webhook(pg_storage, receiver.url, max_concurrency=2)
        events = [await send_event(pg_storage) for _ in range(3)]
        ids = [e.deliveries[0].id for e in events]
        async with worker_process(settings, "--shutdown-grace-seconds", "30") as process:
            await receiver.wait_for(lambda r: r.in_progress == 2)
            held = next(i for i in ids if i not in receiver.ids())
            process.send_signal(signal.SIGTERM)

            async def released() -> bool:
                due = (await pg_storage.get_delivery("acme", held)).next_attempt_at
                return due is not None and due <= utcnow()

            await wait_until(released)  # the third was given back, unsent
            receiver.release.set()  # only now do the two in flight get their answer
            assert await asyncio.wait_for(process.wait(), WAIT_SECONDS) == 0
    states = {i: (await pg_storage.get_delivery("acme", i)).state for i in ids}
    assert states == {i: "pending" if i == held else "succeeded" for i in ids}
    assert len(receiver.requests) == 2


async def test_three_workers_deliver_2000_events_without_a_duplicate(
    pg_storage: Storage, settings: Settings
) -> None:
    count, cap = 2000, 50
    async with Receiver(default=hang()) as receiver:
        webhook = await make_webhook(pg_storage, receiver.url, max_concurrency=cap)
        semaphore = asyncio.Semaphore(8)

        async def one() -> None:
            async with semaphore:
                payload = build_payload("license.created", {"key": "K"}, utcnow())
                await pg_storage.accept_event("acme", None, "license.created", payload, utcnow())

        await asyncio.gather(*(one() for _ in range(count)))
        async with AsyncExitStack() as stack:
            workers = await asyncio.gather(
                *(stack.enter_async_context(worker_process(settings)) for _ in range(3))
            )
            # The webhook's cap holds across the three: together they hold a
            # full lane of requests before any is answered, and compete for the
            # rest of the queue from then on.
            await receiver.wait_for(lambda r: r.in_progress == cap)
            receiver.default = ok()
            receiver.release.set()
            await receiver.wait_for(lambda r: len(r.requests) >= count, timeout=WAIT_SECONDS)
            for process in workers:
                process.send_signal(signal.SIGTERM)
            for process in workers:
                assert await asyncio.wait_for(process.wait(), WAIT_SECONDS) == 0
    ids = receiver.ids()
    assert len(ids) == count
    assert len(set(ids)) == count
    page = await pg_storage.list_webhook_logs(
        "acme", webhook.id, limit=1, cursor=None, success=False
    )
    assert page.items == []
