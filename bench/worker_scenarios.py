"""Scenarios for ``hookwire worker`` processes: delivery per CPU, scaling, memory.

The backlog is preloaded into the database (``bench.common.preload_deliveries``)
while the workers already run, so that their start-up is not measured; they
then drain it into the receiver.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

import aiohttp

from bench.common import (
    DATA,
    EVENT_TYPE,
    count_deliveries,
    count_retried,
    create_webhooks,
    fresh_database,
    open_storage,
    preload_deliveries,
)
from bench.context import Context, cpu_ms_per, log, median, until
from bench.procs import CpuMeter, Service, start_worker
from hookwire.payload import build_payload
from hookwire.storage.base import utcnow
from hookwire.storage.migrate import migrate

# Connection refused at once: nothing listens on the discard port of loopback.
UNREACHABLE_URL = "http://127.0.0.1:9/unreachable"
# Retries of the unreachable webhook come due only after the run: each of its
# deliveries is attempted once, then waits in the backlog.
LONG_RETRY_SCHEDULE_SECONDS = "86400"
# A run counts as flat when memory grows by at most this fraction from the
# first sample (10 % of the backlog) to the last (all of it).
FLAT_GROWTH_FRACTION = 0.10


async def bare_loop(url: str, count: int, concurrency: int) -> None:
    """What aiohttp alone achieves: POST the same body ``count`` times, ``concurrency`` at once."""
    body = build_payload(EVENT_TYPE, DATA, utcnow())
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
                    if response.status != 200:
                        raise RuntimeError(f"the receiver answered {response.status}")

        await asyncio.gather(*(one_lane() for _ in range(concurrency)))


def _rate(report: dict[str, Any]) -> float:
    """Deliveries per second as the receiver saw them arrive, first to last."""
    span = (report["last"] or 0.0) - (report["first"] or 0.0)
    return report["received"] / span if span > 0 else float("nan")


async def bare(ctx: Context) -> dict[str, Any]:
    """The ceiling: the bare aiohttp loop, in this process, into the same receiver."""
    sizes = ctx.sizes
    count = sizes.deliveries
    await ctx.receiver.reset()
    meter = CpuMeter({"bench": os.getpid(), "receiver": ctx.receiver_pid}).start()
    concurrency = sizes.webhooks * sizes.concurrency_per_webhook
    await bare_loop(f"{ctx.receiver.url}/bare", count, concurrency)
    cpu = meter.stop()
    report = await ctx.receiver.report()
    return {
        "deliveries": count,
        "received": report["received"],
        "perSecond": round(_rate(report), 1),
        "perCpuSecond": round(count / cpu["bench"], 1) if cpu["bench"] else None,
        "cpu": {name: round(value, 3) for name, value in cpu.items()},
        "complete": report["received"] == count,
    }


async def drain(ctx: Context, backend: str, workers: int) -> dict[str, Any]:
    """``workers`` worker processes deliver a preloaded backlog into the receiver."""
    sizes = ctx.sizes
    count = sizes.deliveries
    async with fresh_database(backend, ctx.workdir) as url:
        storage = open_storage(url, ctx.secret_key)
        services: list[Service] = []
        try:
            await migrate(storage.engine, storage.cipher)
            urls = [f"{ctx.receiver.url}/drain/{i}" for i in range(sizes.webhooks)]
            hooks = await create_webhooks(storage, urls, sizes.concurrency_per_webhook)
            for number in range(workers):
                services.append(await start_worker(ctx.env(url), ctx.workdir, f"worker-{number}"))
            await ctx.receiver.reset()
            pids = {s.name: s.pid for s in services} | {
                "receiver": ctx.receiver_pid,
                "bench": os.getpid(),
            }
            # Workers may start on the backlog before preloading returns (PostgreSQL
            # analyzes the tables after the commit): their meter runs from before.
            meter = CpuMeter(pids).start()
            await preload_deliveries(storage, hooks, count)
            database = CpuMeter({}, with_postgres=backend == "postgresql").start()
            report = await ctx.receiver.wait_for(count, sizes.wait_seconds)

            async def recorded() -> bool:
                for service in services:
                    service.check_alive()
                return await count_deliveries(storage, state="succeeded") == count

            settled = await until(recorded, sizes.wait_seconds)
            cpu = database.stop() | meter.stop()
        finally:
            for service in services:
                await service.stop()
            await storage.close()
    worker_cpu = sum(cpu[s.name] for s in services)
    result = {
        "workers": workers,
        "deliveries": count,
        "received": report["received"],
        "distinctIds": report["distinctIds"],
        "duplicates": report["duplicates"],
        "perSecond": round(_rate(report), 1),
        "perCpuSecond": round(count / worker_cpu, 1) if worker_cpu else None,
        "workerCpuMsPerDelivery": cpu_ms_per(worker_cpu, count),
        "cpu": {name: round(value, 3) for name, value in cpu.items()},
        "complete": settled and report["received"] == report["distinctIds"] == count,
    }
    log(
        f"delivery {backend}, {workers} worker(s): {result['perSecond']}/s, "
        f"{result['perCpuSecond']}/CPU-s"
    )
    return result


async def delivery(ctx: Context, backends: list[str]) -> dict[str, Any]:
    """Per repeat: the bare loop, one worker per backend, and two workers on PostgreSQL."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for repeat in range(ctx.repeats):
        ceiling = await bare(ctx)
        log(
            f"bare aiohttp #{repeat + 1}: {ceiling['perSecond']}/s, {ceiling['perCpuSecond']}/CPU-s"
        )
        runs.setdefault("bare", []).append(ceiling)
        for backend in backends:
            runs.setdefault(backend, []).append(await drain(ctx, backend, 1))
        if "postgresql" in backends:
            runs.setdefault("postgresql-2", []).append(await drain(ctx, "postgresql", 2))
    bare_per_cpu = median(runs["bare"], "perCpuSecond")
    bare_wall = median(runs["bare"], "perSecond")
    result: dict[str, Any] = {
        "config": f"{ctx.sizes.webhooks} webhooks x {ctx.sizes.concurrency_per_webhook} "
        f"concurrent, {ctx.sizes.deliveries} deliveries, one hookwire worker process",
        "bare": {"perSecond": bare_wall, "perCpuSecond": bare_per_cpu, "repeats": runs["bare"]},
    }
    for backend in backends:
        measured = runs[backend]
        per_cpu = median(measured, "perCpuSecond")
        result[backend] = {
            "perSecond": median(measured, "perSecond"),
            "perCpuSecond": per_cpu,
            "ratioToBare": per_cpu / bare_per_cpu,
            "wallRatioToBare": median(measured, "perSecond") / bare_wall,
            "complete": all(r["complete"] for r in measured),
            "repeats": measured,
        }
    if "postgresql" in backends:
        two = runs["postgresql-2"]
        ratios = [
            b["perSecond"] / a["perSecond"] for a, b in zip(runs["postgresql"], two, strict=True)
        ]
        result["scaling"] = {
            "oneWorkerPerSecond": median(runs["postgresql"], "perSecond"),
            "twoWorkersPerSecond": median(two, "perSecond"),
            "ratio": statistics.median(ratios),
            "complete": all(r["complete"] for r in two),
            "repeats": two,
        }
    return result


async def memory(ctx: Context, backend: str) -> dict[str, Any]:
    """Worker RSS while a backlog for an unreachable webhook grows, step by step.

    Each step adds ``memory_step`` due deliveries; the worker attempts them
    (connection refused) and schedules their retries a day later, so they stay
    pending. RSS is sampled once the step is attempted, or after
    ``memory_step_seconds`` for a worker too slow to attempt it all, so the run
    takes a bounded time whatever the worker's speed (the samples say how many
    were attempted). The peak is sampled throughout.
    """
    sizes = ctx.sizes
    steps = sizes.memory_deliveries // sizes.memory_step
    samples: list[dict[str, float]] = []
    peak = 0.0
    async with fresh_database(backend, ctx.workdir) as url:
        storage = open_storage(url, ctx.secret_key)
        worker: Service | None = None
        try:
            await migrate(storage.engine, storage.cipher)
            hooks = await create_webhooks(storage, [UNREACHABLE_URL], sizes.concurrency_per_webhook)
            env = ctx.env(url, retry_schedule=LONG_RETRY_SCHEDULE_SECONDS)
            worker = await start_worker(env, ctx.workdir)
            service = worker
            idle_rss = service.rss()
            idle_cpu = service.cpu()
            started = time.monotonic()

            def sample() -> None:
                nonlocal peak
                peak = max(peak, service.rss())

            async def attempted() -> bool:
                service.check_alive()
                return await count_deliveries(storage, attempts=0) == 0

            for step in range(1, steps + 1):
                await preload_deliveries(storage, hooks, sizes.memory_step)
                await until(attempted, sizes.memory_step_seconds, between=sample)
                sample()
                backlog = step * sizes.memory_step
                waiting = await count_deliveries(storage, attempts=0)
                rss = round(service.rss(), 1)
                samples.append({"backlog": backlog, "attempted": backlog - waiting, "rssMB": rss})
                log(
                    f"memory {backend}: backlog {backlog} ({backlog - waiting} attempted), "
                    f"worker RSS {rss} MB"
                )
            seconds = time.monotonic() - started
            pending = await count_deliveries(storage, state="pending")
            retried = await count_retried(storage)
            worker_cpu = service.cpu() - idle_cpu
        finally:
            if worker is not None:
                await worker.stop()
            await storage.close()
    first, last = samples[0]["rssMB"], samples[-1]["rssMB"]
    attempted_total = samples[-1]["attempted"]
    return {
        "url": UNREACHABLE_URL,
        "idleRssMB": round(idle_rss, 1),
        "samples": samples,
        "peakRssMB": round(peak, 1),
        "growthMB": round(last - first, 1),
        "flat": last <= first * (1 + FLAT_GROWTH_FRACTION),
        "seconds": round(seconds, 1),
        "attempted": attempted_total,
        "attemptsPerSecond": round(attempted_total / seconds, 1),
        "workerCpuMsPerAttempt": cpu_ms_per(worker_cpu, int(attempted_total)),
        "pending": pending,
        "attemptedMoreThanOnce": retried,
        "complete": pending == sizes.memory_deliveries and retried == 0,
    }
