"""The load generator: hookwire's HTTP API driven the way a platform drives it.

It runs in the benchmark's own process (aiohttp, one event loop), apart from
``hookwire serve``, whose CPU is read from /proc; the generator's CPU is
reported beside it, since both share the machine's cores.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.common import DATA, EVENT_TYPE, TENANT

SETUP_CONCURRENCY = 10
# Connections the open-loop sender may hold; beyond them requests queue in the
# client, and that wait counts in the latency like any other.
OPEN_LOOP_CONNECTIONS = 100


class Api:
    """An admin client of one ``hookwire serve``."""

    def __init__(self, base_url: str, admin_key: str, *, connections: int = 100) -> None:
        self.base_url = base_url
        self.headers = {
            "Authorization": f"Bearer {admin_key}",
            "Content-Type": "application/json",
        }
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=120),
        )

    async def close(self) -> None:
        await self.session.close()

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request that must succeed; returns the JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        async with self.session.request(
            method, self.base_url + path, data=data, headers=self.headers
        ) as response:
            text = await response.text()
            if response.status >= 300:
                raise RuntimeError(f"{method} {path} answered {response.status}: {text[:500]}")
            return json.loads(text) if text else None

    async def setup_tenant(self, webhook_urls: list[str], max_concurrency: int = 10) -> list[str]:
        """The event type, the tenant and one webhook per URL; returns the webhook ids."""
        await self.call("POST", "/v1/event-types", {"name": EVENT_TYPE})
        await self.call("POST", "/v1/tenants", {"id": TENANT, "name": TENANT})
        limit = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def create(i: int, url: str) -> str:
            async with limit:
                body = {"name": f"bench-{i}", "url": url, "maxConcurrency": max_concurrency}
                hook = await self.call("POST", f"/v1/tenants/{TENANT}/webhooks", body)
                return str(hook["id"])

        return list(await asyncio.gather(*(create(i, u) for i, u in enumerate(webhook_urls))))

    def event_body(self, bench_id: str) -> bytes:
        return json.dumps({"event": EVENT_TYPE, "data": {**DATA, "benchId": bench_id}}).encode()

    async def post_event(self, bench_id: str) -> int:
        """Trigger one event; returns the status code."""
        async with self.session.post(
            f"{self.base_url}/v1/tenants/{TENANT}/events",
            data=self.event_body(bench_id),
            headers=self.headers,
        ) as response:
            await response.read()
            return response.status

    async def trigger(self, bench_id: str) -> dict[str, Any]:
        """Trigger one event that must be accepted; returns the 202's body."""
        async with self.session.post(
            f"{self.base_url}/v1/tenants/{TENANT}/events",
            data=self.event_body(bench_id),
            headers=self.headers,
        ) as response:
            text = await response.text()
            if response.status != 202:
                raise RuntimeError(f"an event was answered {response.status}: {text[:500]}")
            answer: dict[str, Any] = json.loads(text)
        return answer

    async def get_healthz(self, _bench_id: str) -> int:
        async with self.session.get(f"{self.base_url}/healthz") as response:
            await response.read()
            return response.status


@dataclass
class Load:
    """What a load run did: requests answered, by status, and how long each took."""

    started: float = 0.0
    finished: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    response_seconds: list[float] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    def rate(self, status: int) -> float:
        """``status`` answers per second over the run."""
        return self.statuses[status] / self.seconds if self.seconds > 0 else 0.0


async def closed_loop(
    request: Callable[[str], Awaitable[int]],
    *,
    connections: int,
    count: int,
    max_seconds: float,
    prefix: str = "c",
) -> Load:
    """``connections`` lanes each sending its next request when the last is answered.

    Stops after ``count`` requests or, for a slow server, when ``max_seconds``
    have passed (requests in flight then are still awaited and counted).
    """
    load = Load()
    issued = 0
    deadline = time.monotonic() + max_seconds

    async def lane() -> None:
        nonlocal issued
        while issued < count and time.monotonic() < deadline:
            number = issued
            issued += 1
            sent = time.monotonic()
            load.statuses[await request(f"{prefix}{number}")] += 1
            load.response_seconds.append(time.monotonic() - sent)

    load.started = time.monotonic()
    await asyncio.gather(*(lane() for _ in range(connections)))
    load.finished = time.monotonic()
    return load


@dataclass
class Paced(Load):
    """An open-loop run: each request's id, when it was sent, and how late it was sent."""

    sent_at: dict[str, float] = field(default_factory=dict)
    max_lag_seconds: float = 0.0


async def open_loop(
    request: Callable[[str], Awaitable[int]], *, rate: float, seconds: float, prefix: str = "o"
) -> Paced:
    """Send ``rate`` requests per second for ``seconds``, whether or not answers keep up.

    Each request is sent on its schedule (not after the previous answer), so a
    slow server shows as latency, not as a lower offered load.
    """
    paced = Paced()
    total = round(rate * seconds)

    async def one(bench_id: str) -> None:
        sent = time.monotonic()
        paced.sent_at[bench_id] = sent
        paced.statuses[await request(bench_id)] += 1
        paced.response_seconds.append(time.monotonic() - sent)

    tasks = []
    paced.started = time.monotonic()
    for number in range(total):
        due = paced.started + number / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        paced.max_lag_seconds = max(paced.max_lag_seconds, time.monotonic() - due)
        tasks.append(asyncio.create_task(one(f"{prefix}{number}")))
    await asyncio.gather(*tasks)
    paced.finished = time.monotonic()
    return paced


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.5 for the median, 0.99 for p99)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered)))) - 1
    return ordered[rank]
