"""A webhook's caps hold across workers; leases follow the request; changes reach workers.

``maxConcurrency`` and ``rateLimit`` are per webhook, not per worker: every
claim counts the webhook's leases, whoever holds them. A lease lasts about one
request and is renewed while held, so a crashed worker's deliveries come back
in seconds, and the attempt it may have made is logged as of unknown outcome.
"""

from __future__ import annotations

import asyncio
import statistics
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import pytest

from hookwire import capacity
from hookwire.config import Settings
from hookwire.delivery import Worker
from hookwire.storage import Storage
from hookwire.storage.claims import UNKNOWN_OUTCOME
from tests.conftest import postgresql_only
from tests.receivers import Receiver, hang, make_webhook, ok, quick, send_event, slow
from tests.test_worker_processes import WAIT_SECONDS, wait_until, worker_process
from tests.test_worker_run import running

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("candidates", "limits", "in_flight", "starts", "limit", "claimed", "saturated"),
    [
        # Room is the cap minus every lease of the webhook, whoever holds it.
        ("aaaa", {"a": (3, None)}, {"a": 1}, {}, 10, "aa", {"a"}),
        ("abab", {"a": (1, None), "b": (5, None)}, {}, {}, 10, "abb", {"a"}),
        # Webhooks another claim holds (absent from limits) are left alone.
        ("abab", {"b": (5, None)}, {}, {}, 10, "bb", set()),
        ("aaaa", {"a": (9, None)}, {}, {}, 2, "aa", set()),
        # A rate of 2/s gives starts 0.5 s apart, claimed up to 1 s ahead.
        ("aaaa", {"a": (9, 2)}, {}, {}, 10, "aaa", {"a"}),
        # ... after the start another worker's claim has already taken.
        ("aaaa", {"a": (9, 2)}, {}, {"a": _at(0.75)}, 10, "a", {"a"}),
    ],
)
def test_pick(
    candidates: str,
    limits: dict[str, tuple[int, int | None]],
    in_flight: dict[str, int],
    starts: dict[str, datetime],
    limit: int,
    claimed: str,
    saturated: set[str],
) -> None:
    picked = capacity.pick(
        [(webhook, True, (webhook, i)) for i, webhook in enumerate(candidates)],
        {w: capacity.Limits(*caps) for w, caps in limits.items()},
        in_flight,
        starts,
        T0,
        limit,
    )
    assert "".join(c[0] for c, _ in picked.claims) == claimed
    assert picked.saturated == saturated


def test_pick_takes_a_paused_webhooks_scheduled_deliveries_to_skip_them() -> None:
    paused = {"a": capacity.Limits(1, 1, paused=True)}
    candidates = [("a", True, 0), ("a", True, 1), ("a", False, 2), ("a", False, 3)]
    picked = capacity.pick(candidates, paused, {"a": 1}, {}, T0, 10)
    # Skipped ones take no room; a manual resend is still sent, within the caps.
    assert [c for c, _ in picked.claims] == [0, 1]
    assert picked.saturated == {"a"}


def test_pick_spaces_rate_limited_starts() -> None:
    picked = capacity.pick(
        [("a", True, i) for i in range(3)], {"a": capacity.Limits(9, 4)}, {}, {}, T0, 10
    )
    assert [start for _, start in picked.claims] == [None, _at(0.25), _at(0.5)]
    assert picked.next_starts == {"a": _at(0.75)}


async def test_two_workers_share_one_cap(storage: Storage, settings: Settings) -> None:
    async with Receiver(default=slow(0.05)) as receiver:
        await make_webhook(storage, receiver.url, max_concurrency=3)
        for _ in range(24):
            await send_event(storage)
        async with Worker(storage, settings) as one, Worker(storage, settings) as two:
            await asyncio.gather(one.run_until_idle(), two.run_until_idle())
    assert len(receiver.requests) == 24
    assert len(set(receiver.ids())) == 24
    assert receiver.peak == 3


@postgresql_only
@pytest.mark.parametrize("workers", [2, 3])
async def test_max_concurrency_holds_across_worker_processes(
    storage: Storage, settings: Settings, workers: int
) -> None:
    count, cap = 60, 4
    async with Receiver(default=slow(0.05)) as receiver:
        await make_webhook(storage, receiver.url, max_concurrency=cap)
        for _ in range(count):
            await send_event(storage)
        async with AsyncExitStack() as stack:
            for _ in range(workers):
                await stack.enter_async_context(worker_process(settings))
            await receiver.wait_for(lambda r: len(r.requests) >= count, timeout=WAIT_SECONDS)
    assert sorted(set(receiver.ids())) == sorted(receiver.ids())
    assert receiver.peak == cap


@postgresql_only
async def test_rate_limit_holds_across_worker_processes(
    storage: Storage, settings: Settings
) -> None:
    count, rate = 16, 8
    async with Receiver() as receiver:
        await make_webhook(storage, receiver.url, rate_limit=rate)
        for _ in range(count):
            await send_event(storage)
        async with AsyncExitStack() as stack:
            for _ in range(3):
                await stack.enter_async_context(worker_process(settings))
            await receiver.wait_for(lambda r: len(r.requests) >= count, timeout=WAIT_SECONDS)
    arrivals = sorted(r.at for r in receiver.requests)
    # Each delivery gets its own start, 1/rate after the one before, whichever
    # process sends it: `rate` + 1 arrivals span a second. A start a busy
    # process makes late does not move the next one's, so one window may be
    # short by that lateness (up to 0.18 s seen on a loaded 2-core CI machine);
    # processes each pacing on their own would fit 16 requests in 0.7 s, and
    # two sharing a limit in 0.5 s per window.
    windows = [arrivals[i + rate] - arrivals[i] for i in range(count - rate)]
    assert min(windows) >= 0.7, windows
    assert statistics.median(windows) >= 0.95, windows


async def test_a_disabled_webhook_gets_nothing_more(storage: Storage, settings: Settings) -> None:
    # A rate of 2/s: the worker holds the next deliveries, waiting for their starts.
    async with Receiver() as receiver:
        webhook = await make_webhook(storage, receiver.url, rate_limit=2)
        events = [await send_event(storage) for _ in range(4)]
        async with running(storage, quick(settings)):
            await receiver.wait_for(lambda r: len(r.requests) == 1)
            await storage.update_webhook("acme", webhook.id, {"active": False})

            async def settled() -> bool:
                states = [
                    (await storage.get_delivery("acme", e.deliveries[0].id)).state for e in events
                ]
                return "pending" not in states

            await wait_until(settled)
    assert len(receiver.requests) == 1
    states = [(await storage.get_delivery("acme", e.deliveries[0].id)).state for e in events]
    assert states == ["succeeded", "skipped", "skipped", "skipped"]
    recovered = await storage.recover_webhook("acme", webhook.id, T0 - timedelta(days=9999))
    assert recovered == 3


@postgresql_only
async def test_a_change_reaches_another_process_at_once(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver:
        webhook = await make_webhook(storage, receiver.url, rate_limit=1)
        events = [await send_event(storage) for _ in range(3)]
        async with worker_process(settings):
            await receiver.wait_for(lambda r: len(r.requests) == 1)
            await storage.update_webhook("acme", webhook.id, {"active": False})

            async def settled() -> bool:
                for event in events:
                    delivery = await storage.get_delivery("acme", event.deliveries[0].id)
                    if delivery.state == "pending":
                        return False
                return True

            async def second_skipped() -> bool:
                second = await storage.get_delivery("acme", events[1].deliveries[0].id)
                return second.state == "skipped"

            # The second delivery, held by the worker, was due to start 1 s after
            # the first: a worker that had not heard of the change would send it.
            await wait_until(second_skipped, timeout=1.0)
            await wait_until(settled)
    assert len(receiver.requests) == 1


@postgresql_only
async def test_a_killed_workers_attempt_is_logged_as_unknown(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver(default=hang()) as receiver:
        await make_webhook(storage, receiver.url)
        event = await send_event(storage)
        async with worker_process(settings, "--lease-seconds", "1") as process:
            await receiver.wait_for(lambda r: r.in_progress == 1)
            process.kill()
            await process.wait()
        receiver.release.set()
        receiver.default = ok()
        async with Worker(storage, quick(settings)) as survivor:
            await survivor.run_until_idle()
    delivery_id = event.deliveries[0].id
    entries = await storage.list_delivery_logs("acme", delivery_id)
    assert [(e.attempt, e.error, e.retry_reason) for e in entries] == [
        (1, UNKNOWN_OUTCOME, None),
        (2, None, UNKNOWN_OUTCOME),
    ]
    assert (await storage.get_delivery("acme", delivery_id)).state == "succeeded"


async def test_a_long_request_keeps_its_lease(storage: Storage, settings: Settings) -> None:
    short = quick(settings, lease_seconds=1.2, request_timeout_seconds=10)
    async with Receiver(default=slow(2.5)) as receiver:
        await make_webhook(storage, receiver.url)
        event = await send_event(storage)
        async with Worker(storage, short) as one, Worker(storage, short) as two:
            # While the first worker's request runs, its lease (1.2 s) is renewed:
            # the second worker must not take the delivery over and send it again.
            await asyncio.gather(one.run_until_idle(), two.run_until_idle())
    assert receiver.ids() == [event.deliveries[0].id]
    entries = await storage.list_delivery_logs("acme", event.deliveries[0].id)
    assert [e.success for e in entries] == [True]
