"""The benchmark's verdict table (Markdown, for the README) and its JSON record."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

BACKEND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# The goals of the performance work, with their units in the names.
TARGET_INGEST_EVENTS_PER_SECOND = 2_000
TARGET_CPU_RATIO = 3.0
TARGET_LATENCY_P50_MS = 10.0
TARGET_LATENCY_P99_MS = 50.0
TARGET_DELIVERY_RATIO_TO_BARE = 0.5
TARGET_SCALING_RATIO = 1.6
TARGET_FANOUT_SECONDS = 1.0
TARGET_WORKER_RSS_MB = 150.0

Cell = Callable[[dict[str, Any]], tuple[str, bool]]


def _mark(ok: bool, complete: bool = True) -> str:
    return ("✓" if ok else "✗") + ("" if complete else " (incomplete)")


def _ok(value: float | None, limit: float, *, at_least: bool) -> bool:
    if value is None or math.isnan(value):
        return False
    return value >= limit if at_least else value <= limit


def _ingest(r: dict[str, Any]) -> tuple[str, bool]:
    value = r["eventsPerSecond"]
    return f"{value:,.0f}", _ok(value, TARGET_INGEST_EVENTS_PER_SECOND, at_least=True)


def _cpu_ratio(r: dict[str, Any]) -> tuple[str, bool]:
    value = r["cpuRatio"]
    return f"{value:.1f}", _ok(value, TARGET_CPU_RATIO, at_least=False)


def _latency(r: dict[str, Any]) -> tuple[str, bool]:
    p50, p99 = r["p50Ms"], r["p99Ms"]
    ok = _ok(p50, TARGET_LATENCY_P50_MS, at_least=False) and _ok(
        p99, TARGET_LATENCY_P99_MS, at_least=False
    )
    return f"{p50:,.1f} / {p99:,.1f} ms", ok


def _delivery(r: dict[str, Any]) -> tuple[str, bool]:
    value = r["ratioToBare"]
    return f"{value:.2f}", _ok(value, TARGET_DELIVERY_RATIO_TO_BARE, at_least=True)


def _scaling(r: dict[str, Any]) -> tuple[str, bool]:
    value = r["ratio"]
    return f"{value:.2f}", _ok(value, TARGET_SCALING_RATIO, at_least=True)


def _fanout(r: dict[str, Any]) -> tuple[str, bool]:
    median, slowest = r["seconds"], r["slowestSeconds"]
    text = f"{median:.2f} s (slowest {slowest:.2f})"
    return text, _ok(slowest, TARGET_FANOUT_SECONDS, at_least=False)


def _memory(r: dict[str, Any]) -> tuple[str, bool]:
    samples = r["samples"]
    if not samples:
        return "no sample", False
    first, last = samples[0], samples[-1]
    text = (
        f"{first['rssMB']:.0f} → {last['rssMB']:.0f} MB "
        f"({first['backlog']:,} → {last['backlog']:,} pending; peak {r['peakRssMB']:.0f})"
    )
    return text, r["flat"] and _ok(r["peakRssMB"], TARGET_WORKER_RSS_MB, at_least=False)


def _rows(results: dict[str, Any], sizes: dict[str, Any]) -> list[tuple[str, str, str, Cell]]:
    """(figure, scenario key, target, cell) for each line of the table."""
    connections = sizes["connections"]
    rate = sizes["latency_rate_per_second"]
    config = f"{sizes['webhooks']}x{sizes['concurrency_per_webhook']}"
    return [
        (f"ingest: events/s, {connections} connections", "ingest", "≥ 2,000", _ingest),
        ("server CPU per accepted event ÷ per `GET /healthz`", "ingest", "≤ 3", _cpu_ratio),
        (
            f"trigger → receipt latency p50 / p99 at {rate:.0f} events/s",
            "latency",
            "p50 ≤ 10 ms, p99 ≤ 50 ms",
            _latency,
        ),
        (f"delivery per CPU vs bare aiohttp ({config})", "delivery", "≥ 0.5", _delivery),
        ("2 workers vs 1: deliveries/s", "scaling", "≥ 1.6", _scaling),
        (
            f"fan-out: 1 event → {sizes['fanout_webhooks']:,} webhooks, all received",
            "fanout",
            "≤ 1 s",
            _fanout,
        ),
        ("worker RSS as the backlog grows", "memory", "≤ 150 MB, flat", _memory),
    ]


def _cell(scenario: dict[str, Any] | None, cell: Cell) -> str:
    if scenario is None:
        return "n/a"
    if "error" in scenario:
        return "error"
    text, ok = cell(scenario)
    return f"{text} {_mark(ok, scenario.get('complete', True))}"


def verdict_table(results: dict[str, Any], sizes: dict[str, Any], backends: list[str]) -> str:
    """The Markdown table of every figure against its target."""
    header = ["figure", *(BACKEND_NAMES[b] for b in backends), "target"]
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * len(backends) + " --- |"]
    for figure, key, target, cell in _rows(results, sizes):
        if key == "scaling":
            if "delivery" not in results:
                continue
            cells = [
                _cell(results.get(key), cell) if b == "postgresql" else "n/a" for b in backends
            ]
        elif key not in results:
            continue
        elif "error" in results[key]:
            cells = ["error"] * len(backends)
        else:
            cells = [_cell(results[key].get(b), cell) for b in backends]
        lines.append(f"| {figure} | " + " | ".join(cells) + f" | {target} |")
    return "\n".join(lines)


def cpu_table(results: dict[str, Any]) -> str:
    """CPU seconds of each process during each measured phase, and the phase's wall time.

    ``bench`` is this process (load generator, bare loop, preloading);
    ``machine`` is every process of the machine together: what exceeds the sum
    of the others was spent by processes outside the benchmark.
    """
    rows: list[tuple[str, dict[str, float]]] = []
    for backend, r in results.get("ingest", {}).items():
        if "repeats" in r:
            rows.append((f"ingest {backend} (`/healthz`)", r["repeats"][0]["healthz"]["cpu"]))
            rows.append((f"ingest {backend} (events)", r["repeats"][0]["cpu"]))
    for backend, r in results.get("latency", {}).items():
        if "cpu" in r:
            rows.append((f"latency {backend}", r["cpu"]))
    delivery = results.get("delivery", {})
    for name, r in delivery.items():
        if isinstance(r, dict) and "repeats" in r:
            rows.append((f"delivery {name}", r["repeats"][0]["cpu"]))
    if "repeats" in results.get("scaling", {}):
        rows.append(("delivery postgresql, 2 workers", results["scaling"]["repeats"][0]["cpu"]))
    for backend, r in results.get("fanout", {}).items():
        if "repeats" in r:
            rows.append((f"fan-out {backend}", r["repeats"][0]["cpu"]))
    processes = ["server", "worker-0", "worker-1", "bench", "receiver", "postgres", "machine"]
    lines = [
        "| phase (first repeat) | wall s | " + " | ".join(processes) + " |",
        "| --- | ---: |" + " ---: |" * len(processes),
    ]
    for phase, cpu in rows:
        cells = [f"{cpu[p]:.2f}" if p in cpu else "" for p in processes]
        lines.append(f"| {phase} | {cpu['wall']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def details(results: dict[str, Any]) -> str:
    """The absolute figures behind the ratios, one line each."""
    lines = []
    for backend, r in results.get("ingest", {}).items():
        if "repeats" in r:
            first = r["repeats"][0]
            lines.append(
                f"- ingest {backend}: {r['eventsPerSecond']:,.0f} events/s "
                f"(response p50 {first['responseP50Ms']} ms, p99 {first['responseP99Ms']} ms); "
                f"server CPU {first['serverCpuMsPerEvent']:.3f} ms/event vs "
                f"{first['healthz']['serverCpuMsPerRequest']:.3f} ms per `/healthz` "
                f"({first['healthz']['requestsPerSecond']:,.0f} req/s)"
            )
    for backend, r in results.get("latency", {}).items():
        if "p50Ms" in r:
            lines.append(
                f"- latency {backend}: {r['accepted']} events, p90 {r['p90Ms']} ms, "
                f"max {r['maxMs']} ms; POST answered p50 {r['responseP50Ms']} ms, "
                f"p99 {r['responseP99Ms']} ms; pacing lag ≤ {r['maxSendLagMs']} ms"
            )
    delivery = results.get("delivery", {})
    for name in ("bare", "sqlite", "postgresql"):
        if name in delivery:
            r = delivery[name]
            lines.append(
                f"- delivery {name}: {r['perSecond']:,.0f}/s, {r['perCpuSecond']:,.0f}/CPU-s"
            )
    if "oneWorkerPerSecond" in results.get("scaling", {}):
        s = results["scaling"]
        lines.append(
            f"- PostgreSQL workers: 1 → {s['oneWorkerPerSecond']:,.0f}/s, "
            f"2 → {s['twoWorkersPerSecond']:,.0f}/s"
        )
    for backend, r in results.get("memory", {}).items():
        if "samples" in r:
            rss = ", ".join(f"{s['rssMB']:.0f}" for s in r["samples"])
            lines.append(
                f"- memory {backend}: idle {r['idleRssMB']} MB; by step {rss} MB; "
                f"{r['attempted']:,} of {r['pending']:,} attempted "
                f"({r['attemptsPerSecond']:,.0f}/s, "
                f"{r['workerCpuMsPerAttempt'] or float('nan'):.2f} ms worker CPU each)"
            )
    return "\n".join(lines)


def write_json(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
