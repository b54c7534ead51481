"""FIFO webhooks: one request at a time, in the order the events were accepted.

The receivers here fail at random (a seeded RNG) and note the event number of
each request they answer with success; the order of those first successes is
what FIFO promises. Delivery is at-least-once: a request in flight when its
worker was killed may come again, so only the first success of each event
counts, never a second one.
"""

from __future__ import annotations

import asyncio
import json
import random
from contextlib import AsyncExitStack
from datetime import timedelta

import httpx
import sqlalchemy as sa
from aiohttp import web

from hookwire.config import Settings
from hookwire.delivery import Worker
from hookwire.payload import build_payload
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from hookwire.storage.claims import UNKNOWN_OUTCOME
from hookwire.storage.tables import deliveries, webhooks
from tests.conftest import postgresql_only
from tests.receivers import Receiver, hang, make_webhook, ok, quick, send_event
from tests.test_worker_processes import WAIT_SECONDS, wait_until, worker_process
from tests.test_worker_run import running

# Enough retries that a 30 % failure rate never exhausts them (0.3 ** 13).
RETRIES = (0.01,) * 12


class Flaky:
    """A receiver behaviour: 500 at random (seeded), else 200; notes the successes."""

    def __init__(self, seed: int, failure_rate: float = 0.3) -> None:
        self._rng = random.Random(seed)
        self._failure_rate = failure_rate
        self.successes: list[int] = []  # event numbers, in the order they were answered 200
        self.failures = 0

    async def __call__(self, _receiver: Receiver, request: web.Request) -> web.StreamResponse:
        number = json.loads(await request.read())["data"]["n"]
        if self._rng.random() < self._failure_rate:
            self.failures += 1
            return web.Response(status=500, text="flaky")
        self.successes.append(number)
        return web.Response(text="ok")

    def first_successes(self) -> list[int]:
        """Each event's first success, in order (a repeat after a crash is left out)."""
        seen: set[int] = set()
        firsts = []
        for number in self.successes:
            if number not in seen:
                seen.add(number)
                firsts.append(number)
        return firsts


async def accept_numbered(storage: Storage, count: int, webhook_id: str = "") -> list[str]:
    """Accept ``count`` events, one after another (each answered before the next is
    sent: that is their acceptance order), numbered in ``data.n``; their delivery ids
    (to ``webhook_id``, or to the one webhook)."""
    ids: list[str] = []
    for number in range(count):
        now = utcnow()
        payload = build_payload("license.created", {"n": number}, now)
        event, _ = await storage.accept_event("acme", None, "license.created", payload, now)
        ids.extend(d.id for d in event.deliveries if webhook_id in ("", d.webhook_id))
    return ids


async def test_deliveries_are_numbered_in_acceptance_order(storage: Storage) -> None:
    await make_webhook(storage, "https://example.com/hook", ordering="fifo")
    one_by_one = await accept_numbered(storage, 20)
    # Events accepted together (group commit: one transaction) are numbered apart.
    together = await asyncio.gather(*(send_event(storage, n=i) for i in range(20)))
    async with storage.read() as conn:
        rows = (await conn.execute(sa.select(deliveries.c.id, deliveries.c.seq))).all()
    seqs = {row.id: row.seq for row in rows}
    assert len(rows) == 40 and None not in seqs.values()
    assert len(set(seqs.values())) == 40
    ordered = [seqs[i] for i in one_by_one]
    assert ordered == sorted(ordered)
    assert min(seqs[e.deliveries[0].id] for e in together) > ordered[-1]


async def test_500_events_reach_a_flaky_receiver_in_order_one_at_a_time(
    storage: Storage, settings: Settings
) -> None:
    flaky = Flaky(seed=12)
    async with Receiver(default=flaky) as receiver:
        # maxConcurrency 10 is what the webhook would have; FIFO sends one at a time.
        await make_webhook(storage, receiver.url, ordering="fifo", max_concurrency=10)
        await accept_numbered(storage, 500)
        async with Worker(storage, quick(settings, retry_schedule=RETRIES)) as worker:
            await worker.run_until_idle()
    assert flaky.failures > 100  # retries happened, and held back what followed
    assert flaky.successes == list(range(500))
    assert receiver.peak == 1


async def test_retry_after_on_the_head_holds_back_those_behind_it(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver:
        receiver.answer(ok(503, headers={"Retry-After": "1"}))
        await make_webhook(storage, receiver.url, ordering="fifo")
        ids = await accept_numbered(storage, 3)
        # Retry-After is honoured within the schedule's bounds (0.05 s to 5 s).
        async with Worker(storage, quick(settings, retry_schedule=(0.05, 5.0))) as worker:
            await worker.run_until_idle()
    assert receiver.ids() == [ids[0], ids[0], ids[1], ids[2]]
    first, retry = await storage.list_delivery_logs("acme", ids[0])
    assert first.status_code == 503 and retry.status_code == 200
    assert first.received_at is not None and retry.sent_at is not None
    assert retry.sent_at >= first.received_at + timedelta(seconds=1)


async def test_a_resent_old_delivery_goes_at_once_and_the_queue_keeps_its_order(
    storage: Storage, settings: Settings
) -> None:
    # A long retry: the second delivery's failure holds the queue until it is resent.
    slow_retry = quick(settings, retry_schedule=(600.0,))
    async with Receiver() as receiver:
        webhook = await make_webhook(storage, receiver.url, ordering="fifo")
        async with running(storage, slow_retry):
            old = (await accept_numbered(storage, 1))[0]
            await receiver.wait_for(lambda r: len(r.requests) == 1)
            receiver.answer(ok(500))
            held = await accept_numbered(storage, 4)

            async def blocked() -> bool:
                return webhook.id in await storage.fifo_blockers([webhook.id])

            await wait_until(blocked)
            blocker = (await storage.fifo_blockers([webhook.id]))[webhook.id]
            assert blocker.delivery_id == held[0] and blocker.attempts == 1
            assert blocker.retry_at is not None and blocker.retry_at > utcnow()

            # The old delivery is sent when asked, though the queue is held.
            await storage.resend_delivery("acme", old)
            await receiver.wait_for(lambda r: len(r.requests) == 3)
            assert receiver.ids() == [old, held[0], old]
            # Resending the head sends it now; the rest follow in their order.
            await storage.resend_delivery("acme", held[0])
            await receiver.wait_for(lambda r: len(r.requests) == 7)
    assert receiver.ids() == [old, held[0], old, *held]
    assert receiver.peak == 1
    assert await storage.fifo_blockers([webhook.id]) == {}


async def test_recovered_deliveries_go_first_in_their_order(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver:
        webhook = await make_webhook(storage, receiver.url, ordering="fifo")
        async with storage.write() as conn:
            await conn.execute(
                webhooks.update()
                .where(webhooks.c.id == webhook.id)
                .values(status="suspended", active=False)
            )
        skipped = await accept_numbered(storage, 3)  # skipped: the webhook is suspended
        await storage.update_webhook("acme", webhook.id, {"active": True})
        later = await accept_numbered(storage, 2)
        recovered = await storage.recover_webhook("acme", webhook.id, utcnow() - timedelta(1))
        assert recovered == 3
        async with Worker(storage, quick(settings)) as worker:
            await worker.run_until_idle()
    assert receiver.ids() == [*skipped, *later]


async def test_a_resend_of_a_request_in_flight_leaves_it_alone(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver(default=hang()) as receiver:
        await make_webhook(storage, receiver.url, ordering="fifo")
        first, second = await accept_numbered(storage, 2)
        async with running(storage, quick(settings)):
            await receiver.wait_for(lambda r: r.in_progress == 1)
            resent = await storage.resend_delivery("acme", first)
            assert resent.state == "pending" and resent.next_trigger == "scheduled"
            receiver.release.set()
            receiver.default = ok()
            await receiver.wait_for(lambda r: len(r.requests) == 2)
    assert receiver.ids() == [first, second]
    assert receiver.peak == 1


async def test_the_api_says_what_blocks_a_fifo_webhook(
    storage: Storage, settings: Settings, api: httpx.AsyncClient
) -> None:
    async with Receiver(default=ok(503)) as receiver:
        webhook = await make_webhook(storage, receiver.url, ordering="fifo")
        plain = await make_webhook(storage, receiver.url, name="parallel")
        ids = await accept_numbered(storage, 2, webhook.id)
        async with Worker(storage, quick(settings, retry_schedule=(600.0,))) as worker:
            await worker.run_until_idle()
    answer = await api.get(f"/v1/tenants/acme/webhooks/{webhook.id}")
    assert answer.status_code == 200, answer.text
    blocked = answer.json()["blockedBy"]
    assert blocked["deliveryId"] == ids[0]
    assert (blocked["attempts"], blocked["lastStatusCode"], blocked["reason"]) == (
        1,
        503,
        "HTTP 503",
    )
    assert blocked["retryAt"] is not None
    listed = (await api.get("/v1/tenants/acme/webhooks")).json()["data"]
    assert {w["id"]: w["blockedBy"] is not None for w in listed} == {
        webhook.id: True,
        plain.id: False,
    }


@postgresql_only
async def test_three_worker_processes_one_killed_keep_the_order(
    storage: Storage, settings: Settings
) -> None:
    count = 500  # as the issue asks: 500 events, three workers, one SIGKILLed
    flaky = Flaky(seed=7)
    options = (
        "--lease-seconds",
        "1",
        "--retry-schedule",
        ",".join(str(s) for s in RETRIES),
        "--retry-jitter",
        "0",
    )
    async with Receiver(default=flaky) as receiver:
        webhook = await make_webhook(storage, receiver.url, ordering="fifo")
        await accept_numbered(storage, count)
        async with AsyncExitStack() as stack:
            workers = [
                await stack.enter_async_context(worker_process(settings, *options))
                for _ in range(3)
            ]
            await receiver.wait_for(lambda _r: len(flaky.successes) >= count // 2)
            # The next request hangs; the worker sending it is killed mid-request.
            receiver.answer(hang())
            await receiver.wait_for(lambda r: not r.script and r.in_progress == 1)
            async with storage.read() as conn:
                owner, held = (
                    await conn.execute(
                        sa.select(deliveries.c.lease_owner, deliveries.c.id).where(
                            deliveries.c.state == "pending", deliveries.c.lease_owner.is_not(None)
                        )
                    )
                ).one()
            pid = int(owner.rsplit("-", 2)[1])
            killed = next(p for p in workers if p.pid == pid)
            killed.kill()
            await killed.wait()
            receiver.release.set()  # the orphaned request ends before its lease does
            await receiver.wait_for(
                lambda _r: len(set(flaky.successes)) == count, timeout=WAIT_SECONDS
            )
    assert flaky.first_successes() == list(range(count))
    assert receiver.peak == 1
    # The killed worker's request is in the log as of unknown outcome, then retried.
    entries = await storage.list_delivery_logs("acme", held)
    assert UNKNOWN_OUTCOME in [e.error for e in entries]
    assert (await storage.get_delivery("acme", held)).state == "succeeded"
    assert await storage.fifo_blockers([webhook.id]) == {}
