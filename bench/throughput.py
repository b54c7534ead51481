"""Delivery throughput of one hookwire worker process, as a ratio to a bare aiohttp loop.

    python -m bench.throughput [--deliveries 5000] [--repeats 3] [--backend both]

Each repeat measures, in this one process and against one receiver running in
another process on 127.0.0.1:

- ``bare``: an aiohttp session posting the same body N times with the same
  concurrency as the worker (the most a Python process can post);
- ``hookwire/<db>``: a real :class:`hookwire.delivery.Worker` delivering N
  pending deliveries (claimed in batches, signed, logged, completed) on a fresh
  SQLite file or PostgreSQL database.

The events and deliveries are written before the clock starts (accepting
events is a separate cost: ``python -m bench.accept``). Rates are deliveries
per wall-clock second and per CPU-second of this process; the verdict is the
median ratio hookwire / bare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import sqlalchemy as sa

from bench.common import fresh_storage
from hookwire.config import Settings
from hookwire.delivery import Worker
from hookwire.ids import new_id
from hookwire.payload import build_payload
from hookwire.storage import Storage
from hookwire.storage import tables as t
from hookwire.storage.base import utcnow

WEBHOOKS = 10
CONCURRENCY_PER_WEBHOOK = 10
DATA = {"key": "D08B53-C564F8-463EA5-F16A15-E35D6E-D2559B", "email": "someone@example.com"}


@dataclass
class Run:
    name: str
    deliveries: int
    wall_seconds: float
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.deliveries / self.wall_seconds

    @property
    def per_cpu_second(self) -> float:
        return self.deliveries / self.cpu_seconds


async def _timed(name: str, count: int, work: object) -> Run:
    assert asyncio.iscoroutine(work)
    wall, cpu = time.perf_counter(), time.process_time()
    await work
    return Run(name, count, time.perf_counter() - wall, time.process_time() - cpu)


async def bare_loop(url: str, count: int, concurrency: int) -> None:
    """What aiohttp alone achieves: POST the body ``count`` times, ``concurrency`` at once."""
    body = build_payload("license.created", DATA, utcnow())
    headers = {"Content-Type": "application/json; charset=utf-8"}
    remaining = count
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one_lane() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    assert response.status == 200

        await asyncio.gather(*(one_lane() for _ in range(concurrency)))


async def prepare(storage: Storage, url: str, count: int) -> None:
    """A tenant, WEBHOOKS webhooks, and ``count`` pending deliveries spread over them."""
    await storage.create_tenant("bench", "bench")
    hooks = []
    for i in range(WEBHOOKS):
        hook = await storage.create_webhook(
            "bench",
            {
                "name": f"bench-{i}",
                "url": f"{url}/{i}",
                "token": "bench-token-0123456789",
                "events": ["*"],
                "active": True,
                "description": "",
                "headers": {},
                "signature_scheme": "hookwire",
                "max_concurrency": CONCURRENCY_PER_WEBHOOK,
                "rate_limit": None,
            },
        )
        hooks.append(hook.id)
    now = utcnow()
    events, deliveries = [], []
    for i in range(count):
        event_id = new_id("evt")
        events.append(
            {
                "tenant_id": "bench",
                "id": event_id,
                "event_type": "license.created",
                "payload": build_payload("license.created", DATA, now),
                "idempotency_key": None,
                "triggered_at": now,
            }
        )
        deliveries.append(
            {
                "id": new_id("dlv"),
                "tenant_id": "bench",
                "event_id": event_id,
                "webhook_id": hooks[i % WEBHOOKS],
                "event_type": "license.created",
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "lease_owner": None,
                "next_trigger": "scheduled",
                "retry_reason": None,
                "last_status_code": None,
                "created_at": now,
                "updated_at": now,
            }
        )
    async with storage.write() as conn:
        await conn.execute(t.events.insert(), events)
        await conn.execute(t.deliveries.insert(), deliveries)


async def hookwire_run(backend: str, url: str, count: int, workdir: Path) -> Run:
    async with fresh_storage(backend, workdir) as storage:
        await prepare(storage, url, count)
        settings = Settings(data_dir=workdir, allow_private_networks=True, admin_key="unused-key")
        before = received(url)
        async with Worker(storage, settings) as worker:
            run = await _timed(
                f"hookwire/{backend}", count, worker.run_until_idle(horizon_seconds=0)
            )
        async with storage.read() as conn:
            delivered = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(t.deliveries)
                .where(t.deliveries.c.state == "succeeded")
            )
    assert delivered == count, f"{delivered} of {count} delivered"
    assert received(url) - before == count, "the receiver saw duplicates or losses"
    return run


def received(url: str) -> int:
    """How many requests the receiver has answered so far."""
    with urllib.request.urlopen(f"{url}/stats", timeout=5) as response:
        count: int = json.load(response)["received"]
    return count


def start_receiver() -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "bench.receiver", str(port)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the benchmark receiver did not start")


async def main(deliveries: int, repeats: int, backends: list[str]) -> None:
    receiver, url = start_receiver()
    runs: dict[str, list[Run]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for repeat in range(repeats):
                batch = [
                    await _timed(
                        "bare",
                        deliveries,
                        bare_loop(f"{url}/bare", deliveries, WEBHOOKS * CONCURRENCY_PER_WEBHOOK),
                    )
                ]
                for backend in backends:
                    batch.append(await hookwire_run(backend, url, deliveries, Path(tmp)))
                for run in batch:
                    runs.setdefault(run.name, []).append(run)
                    print(
                        f"repeat {repeat + 1}: {run.name:<20} {run.per_second:8.0f}/s "
                        f"{run.per_cpu_second:8.0f}/CPU-s",
                        flush=True,
                    )
    finally:
        receiver.terminate()
        receiver.wait()
    bare = statistics.median(r.per_cpu_second for r in runs["bare"])
    bare_wall = statistics.median(r.per_second for r in runs["bare"])
    print(
        f"\nmedians of {repeats} repeats, {deliveries} deliveries each "
        f"({WEBHOOKS} webhooks x {CONCURRENCY_PER_WEBHOOK} concurrent):"
    )
    print(f"{'run':<20} {'per s':>8} {'per CPU-s':>10} {'ratio to bare (CPU)':>20}")
    for name, measured in runs.items():
        wall = statistics.median(r.per_second for r in measured)
        cpu = statistics.median(r.per_cpu_second for r in measured)
        ratio = f"{cpu / bare:.2f} (wall {wall / bare_wall:.2f})"
        print(f"{name:<20} {wall:8.0f} {cpu:10.0f} {ratio:>20}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    chosen = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    asyncio.run(main(args.deliveries, args.repeats, chosen))
