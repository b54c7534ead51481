"""Scenarios over HTTP against ``hookwire serve``: ingest, trigger-to-receipt latency, fan-out.

Each starts ``hookwire serve`` in its own process on a fresh database, sets
up through the admin API like an operator would, and drives it with the
generator of :mod:`bench.load`.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from bench.common import count_deliveries, count_events, fresh_database, open_storage
from bench.context import Context, cpu_ms_per, log, median, until
from bench.load import OPEN_LOOP_CONNECTIONS, Api, closed_loop, open_loop, percentile
from bench.procs import CpuMeter, Service, start_serve

ACCEPTED = 202
# Warm-up events of the latency scenario, sent one at a time before the clock starts.
LATENCY_WARMUP_EVENTS = 20


def _meter(ctx: Context, server: Service, backend: str) -> CpuMeter:
    pids = {"server": server.pid, "receiver": ctx.receiver_pid, "bench": os.getpid()}
    return CpuMeter(pids, with_postgres=backend == "postgresql").start()


def _cpu(seconds: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 3) for name, value in seconds.items()}


async def ingest(ctx: Context, backend: str) -> dict[str, Any]:
    """Events/s over HTTP, and server CPU per event against server CPU per ``GET /healthz``.

    ``serve`` runs without its worker (``--no-run-worker``): deliveries are
    created (one webhook) but not sent, so acceptance alone is measured.
    """
    sizes = ctx.sizes
    repeats = []
    for repeat in range(ctx.repeats):
        async with fresh_database(backend, ctx.workdir) as url:
            server = await start_serve(ctx.env(url, run_worker="false"), ctx.workdir)
            api = Api(server.url, ctx.admin_key, connections=sizes.connections)
            try:
                await api.setup_tenant([f"{ctx.receiver.url}/ingest"])
                for request in (api.get_healthz, api.post_event):
                    await closed_loop(
                        request,
                        connections=sizes.connections,
                        count=sizes.warmup_requests,
                        max_seconds=sizes.ingest_max_seconds,
                        prefix="w",
                    )
                meter = _meter(ctx, server, backend)
                health = await closed_loop(
                    api.get_healthz,
                    connections=sizes.connections,
                    count=sizes.healthz_requests,
                    max_seconds=sizes.healthz_max_seconds,
                    prefix="h",
                )
                health_cpu = meter.stop()
                meter = _meter(ctx, server, backend)
                events = await closed_loop(
                    api.post_event,
                    connections=sizes.connections,
                    count=sizes.ingest_events,
                    max_seconds=sizes.ingest_max_seconds,
                    prefix="e",
                )
                events_cpu = meter.stop()
            finally:
                await api.close()
                await server.stop()
            storage = open_storage(url, ctx.secret_key)
            try:
                stored = await count_events(storage) - sizes.warmup_requests
            finally:
                await storage.close()
        accepted = events.statuses[ACCEPTED]
        per_event = cpu_ms_per(events_cpu["server"], accepted)
        per_request = cpu_ms_per(health_cpu["server"], health.statuses[200])
        cpu_ratio = per_event / per_request if per_event and per_request else None
        result: dict[str, Any] = {
            "events": events.answered,
            "accepted": accepted,
            "stored": stored,
            "statuses": {str(k): v for k, v in events.statuses.items()},
            "seconds": round(events.seconds, 3),
            "eventsPerSecond": round(events.rate(ACCEPTED), 1),
            "responseP50Ms": round(percentile(events.response_seconds, 0.5) * 1000, 2),
            "responseP99Ms": round(percentile(events.response_seconds, 0.99) * 1000, 2),
            "serverCpuMsPerEvent": per_event,
            "cpu": _cpu(events_cpu),
            "healthz": {
                "requests": health.answered,
                "statuses": {str(k): v for k, v in health.statuses.items()},
                "requestsPerSecond": round(health.rate(200), 1),
                "serverCpuMsPerRequest": per_request,
                "cpu": _cpu(health_cpu),
            },
            "cpuRatio": cpu_ratio,
        }
        result["complete"] = (
            accepted == events.answered > 0
            and stored == accepted
            and health.statuses[200] == health.answered > 0
        )
        log(
            f"ingest {backend} #{repeat + 1}: {result['eventsPerSecond']} events/s, "
            f"server CPU per event / per healthz = {_fmt(cpu_ratio)}"
        )
        repeats.append(result)
    return {
        "eventsPerSecond": median(repeats, "eventsPerSecond"),
        "cpuRatio": median(repeats, "cpuRatio"),
        "complete": all(r["complete"] for r in repeats),
        "repeats": repeats,
    }


async def latency(ctx: Context, backend: str) -> dict[str, Any]:
    """Trigger-to-receipt latency at a steady, open-loop rate, ``serve`` with its worker."""
    sizes = ctx.sizes
    async with fresh_database(backend, ctx.workdir) as url:
        server = await start_serve(ctx.env(url), ctx.workdir)
        api = Api(server.url, ctx.admin_key, connections=OPEN_LOOP_CONNECTIONS)
        try:
            await api.setup_tenant([f"{ctx.receiver.url}/keep/latency"])
            await ctx.receiver.reset()
            for number in range(LATENCY_WARMUP_EVENTS):
                await api.post_event(f"w{number}")
            await ctx.receiver.wait_for(LATENCY_WARMUP_EVENTS, sizes.wait_seconds)
            await ctx.receiver.reset()
            meter = _meter(ctx, server, backend)
            paced = await open_loop(
                api.post_event,
                rate=sizes.latency_rate_per_second,
                seconds=sizes.latency_seconds,
                prefix="l",
            )
            sent = paced.statuses[ACCEPTED]
            await ctx.receiver.wait_for(sent, sizes.wait_seconds)
            cpu = meter.stop()
            report = await ctx.receiver.report(bodies=True)
        finally:
            await api.close()
            await server.stop()
    latencies = []
    for arrived, body in report.pop("kept"):
        bench_id = json.loads(body)["data"]["benchId"]
        latencies.append(arrived - paced.sent_at[bench_id])
    result = {
        "ratePerSecond": sizes.latency_rate_per_second,
        "seconds": sizes.latency_seconds,
        "sent": len(paced.sent_at),
        "accepted": sent,
        "statuses": {str(k): v for k, v in paced.statuses.items()},
        "received": report["received"],
        "distinctIds": report["distinctIds"],
        "duplicates": report["duplicates"],
        "p50Ms": round(percentile(latencies, 0.5) * 1000, 2),
        "p90Ms": round(percentile(latencies, 0.9) * 1000, 2),
        "p99Ms": round(percentile(latencies, 0.99) * 1000, 2),
        "maxMs": round(max(latencies, default=float("nan")) * 1000, 2),
        "responseP50Ms": round(percentile(paced.response_seconds, 0.5) * 1000, 2),
        "responseP99Ms": round(percentile(paced.response_seconds, 0.99) * 1000, 2),
        "maxSendLagMs": round(paced.max_lag_seconds * 1000, 2),
        "cpu": _cpu(cpu),
    }
    result["complete"] = (
        sent == len(paced.sent_at) == report["distinctIds"] == report["received"] == len(latencies)
    )
    log(f"latency {backend}: p50 {result['p50Ms']} ms, p99 {result['p99Ms']} ms")
    return result


async def fanout(ctx: Context, backend: str) -> dict[str, Any]:
    """One event to a tenant with many webhooks: time until every webhook received it."""
    sizes = ctx.sizes
    webhooks = sizes.fanout_webhooks
    repeats = []
    async with fresh_database(backend, ctx.workdir) as url:
        server = await start_serve(ctx.env(url), ctx.workdir)
        api = Api(server.url, ctx.admin_key)
        storage = open_storage(url, ctx.secret_key)
        try:
            started = time.monotonic()
            urls = [f"{ctx.receiver.url}/fanout/{i}" for i in range(webhooks)]
            await api.setup_tenant(urls)
            log(f"fan-out {backend}: {webhooks} webhooks in {time.monotonic() - started:.1f} s")
            for repeat in range(ctx.repeats):
                await ctx.receiver.reset()
                meter = _meter(ctx, server, backend)
                sent = time.monotonic()
                answer = await api.trigger(f"f{repeat}")
                report = await ctx.receiver.wait_for(webhooks, sizes.wait_seconds)

                async def recorded() -> bool:
                    return await count_deliveries(storage, state="pending") == 0

                settled = await until(recorded, sizes.wait_seconds)
                cpu = meter.stop()
                result = {
                    "deliveries": answer["deliveries"],
                    "received": report["received"],
                    "distinctIds": report["distinctIds"],
                    "distinctPaths": report["distinctPaths"],
                    "duplicates": report["duplicates"],
                    "seconds": round(report["last"] - sent, 4) if report["last"] else None,
                    "cpu": _cpu(cpu),
                }
                result["complete"] = settled and (
                    answer["deliveries"]
                    == report["received"]
                    == report["distinctIds"]
                    == report["distinctPaths"]
                    == webhooks
                )
                log(f"fan-out {backend} #{repeat + 1}: all {webhooks} in {result['seconds']} s")
                repeats.append(result)
        finally:
            await storage.close()
            await api.close()
            await server.stop()
    return {
        "webhooks": webhooks,
        "seconds": median(repeats, "seconds"),
        "slowestSeconds": max((r["seconds"] or float("inf")) for r in repeats),
        "complete": all(r["complete"] for r in repeats),
        "repeats": repeats,
    }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
