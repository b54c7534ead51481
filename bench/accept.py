"""Accepting events: concurrent callers (group commit) against one caller at a time.

    python -m bench.accept [--events 2000] [--callers 50] [--repeats 3]

Both runs go through ``Storage.accept_event`` on a fresh database of each
backend, with a tenant of 10 webhooks (so 10 deliveries per event). The
baseline, in the same run, is one caller at a time: one transaction per event.
SQLite also runs with ``synchronous=NORMAL``, to show what the full fsync that
makes each 202 durable costs.
Reported: events per second and per CPU-second (median of the repeats) and the
concurrent/sequential ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import DATA, SQLITE_NOT_DURABLE, fresh_storage
from hookwire.payload import build_payload
from hookwire.storage import Storage
from hookwire.storage.base import utcnow

BenchResult = tuple[float, float]  # events per wall second, per CPU second
WEBHOOKS = 10
# SQLite without a full fsync per commit is measured too: the cost of durable 202s.
BACKENDS = ("sqlite", SQLITE_NOT_DURABLE, "postgresql")


async def _prepare(storage: Storage) -> None:
    await storage.create_tenant("bench", "bench")
    for i in range(WEBHOOKS):
        await storage.create_webhook(
            "bench",
            {
                "name": f"bench-{i}",
                "url": f"http://127.0.0.1:9/{i}",
                "token": "bench-token-0123456789",
                "events": ["*"],
                "active": True,
                "description": "",
                "headers": {},
                "signature_scheme": "hookwire",
                "max_concurrency": 10,
                "rate_limit": None,
            },
        )


async def _accept_many(storage: Storage, count: int, callers: int) -> BenchResult:
    remaining = count

    async def caller() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            now = utcnow()
            payload = build_payload("license.created", DATA, now)
            await storage.accept_event("bench", None, "license.created", payload, now)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return count / (time.perf_counter() - wall), count / (time.process_time() - cpu)


async def main(count: int, callers: int, repeats: int) -> None:
    results: dict[str, list[BenchResult]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            for backend in BACKENDS:
                for name, n_callers in (("sequential", 1), (f"{callers} callers", callers)):
                    async with fresh_storage(backend, Path(tmp)) as storage:
                        await _prepare(storage)
                        result = await _accept_many(storage, count, n_callers)
                    key = f"{backend} {name}"
                    results.setdefault(key, []).append(result)
                    print(
                        f"repeat {repeat + 1}: {key:<26} {result[0]:7.0f} events/s "
                        f"{result[1]:7.0f}/CPU-s",
                        flush=True,
                    )
    print(f"\nmedians of {repeats} repeats, {count} events each ({WEBHOOKS} deliveries per event):")
    print(f"{'run':<26} {'events/s':>9} {'per CPU-s':>10} {'ratio (wall)':>13}")
    for backend in BACKENDS:
        base = statistics.median(r[0] for r in results[f"{backend} sequential"])
        for key in (f"{backend} sequential", f"{backend} {callers} callers"):
            wall = statistics.median(r[0] for r in results[key])
            cpu = statistics.median(r[1] for r in results[key])
            print(f"{key:<26} {wall:9.0f} {cpu:10.0f} {wall / base:13.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.callers, args.repeats))
