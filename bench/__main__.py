"""hookwire's benchmark, driven the way users drive it: ``python -m bench``.

    python -m bench [--quick] [--repeats N] [--backend sqlite|postgresql|both]
                    [--only ingest,latency,delivery,fanout,memory] [--output FILE]

``hookwire serve`` and ``hookwire worker`` run as their own processes on a
fresh database per scenario and backend; a receiver (``bench.receiver``) runs
in another; this process is the load generator. Every figure is a ratio to a
ceiling measured in the same run, or an absolute one with its target, and each
process's CPU is read from /proc. Every scenario also checks that what was sent
arrived exactly once; a run with an incomplete scenario exits with status 1.

The table is printed as Markdown and written, with every figure, to
``bench/results/<date>-<host>.json`` (``…-quick.json`` for ``--quick``).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench import report, serve_scenarios, worker_scenarios
from bench.common import BACKENDS, PG_ADMIN_URL, new_secret_key
from bench.context import Context, Sizes, log
from bench.procs import machine
from bench.receiver import ReceiverClient, start_receiver

SCENARIOS = ("ingest", "latency", "delivery", "fanout", "memory")
RESULTS_DIR = Path(__file__).parent / "results"
FULL_REPEATS = 3
QUICK_REPEATS = 1

PerBackend = Callable[[Context, str], Awaitable[dict[str, Any]]]
PER_BACKEND: dict[str, PerBackend] = {
    "ingest": serve_scenarios.ingest,
    "latency": serve_scenarios.latency,
    "fanout": serve_scenarios.fanout,
    "memory": worker_scenarios.memory,
}


async def _guarded(name: str, run: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A scenario's result, or its error: one failure does not cost the whole run."""
    try:
        return await run
    except Exception as exc:
        traceback.print_exc()
        log(f"{name} failed: {exc!r}")
        return {"error": repr(exc), "complete": False}


async def run(
    sizes: Sizes, repeats: int, backends: list[str], scenarios: list[str]
) -> dict[str, Any]:
    """Run the chosen scenarios; returns every figure by scenario and backend."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hookwire-bench-") as tmp:
        workdir = Path(tmp)
        receiver = await start_receiver(workdir)
        try:
            async with aiohttp.ClientSession() as session:
                ctx = Context(
                    sizes=sizes,
                    repeats=repeats,
                    workdir=workdir,
                    receiver=ReceiverClient(receiver, session),
                    admin_key=f"hw_admin_bench-{secrets.token_hex(16)}",
                    secret_key=new_secret_key(),
                )
                for scenario in scenarios:
                    if scenario == "delivery":
                        delivery = await _guarded(
                            scenario, worker_scenarios.delivery(ctx, backends)
                        )
                        if "scaling" in delivery:
                            results["scaling"] = delivery.pop("scaling")
                        results["delivery"] = delivery
                        continue
                    results[scenario] = {
                        backend: await _guarded(
                            f"{scenario} {backend}", PER_BACKEND[scenario](ctx, backend)
                        )
                        for backend in backends
                    }
        finally:
            await receiver.stop()
    return results


def _incomplete(results: dict[str, Any]) -> list[str]:
    """The scenarios that failed or did not get everything exactly once."""
    names = []
    for scenario, by_backend in results.items():
        if "error" in by_backend or by_backend.get("complete") is False:
            names.append(scenario)
            continue
        for backend, result in by_backend.items():
            if isinstance(result, dict) and result.get("complete") is False:
                names.append(f"{scenario} {backend}")
    return names


async def _postgres_version() -> str:
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"unreachable ({exc!r})"
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of the size")
    parser.add_argument("--repeats", type=int, help="default: 3, or 1 with --quick")
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--output", type=Path, help="the JSON file (default: bench/results/…)")
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    sizes = Sizes().quick() if args.quick else Sizes()
    repeats = args.repeats or (QUICK_REPEATS if args.quick else FULL_REPEATS)
    backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    about = machine()
    if "postgresql" in backends:
        about["postgresql"] = asyncio.run(_postgres_version())
    log(
        f"hookwire bench ({'quick' if args.quick else 'full'}, {repeats} repeat(s), "
        f"{', '.join(backends)}) on {about['nproc']} x {about['cpuModel']}"
    )
    started = time.monotonic()
    results = asyncio.run(run(sizes, repeats, backends, scenarios))
    duration = time.monotonic() - started
    table = report.verdict_table(results, asdict(sizes), backends)
    cpu = report.cpu_table(results)
    details = report.details(results)
    incomplete = _incomplete(results)
    suffix = "-quick" if args.quick else ""
    output = args.output or RESULTS_DIR / f"{date.today().isoformat()}-{about['host']}{suffix}.json"
    report.write_json(
        output,
        {
            "machine": about,
            "mode": "quick" if args.quick else "full",
            "repeats": repeats,
            "backends": backends,
            "sizes": asdict(sizes),
            "durationSeconds": round(duration, 1),
            "incomplete": incomplete,
            "results": results,
            "table": table,
        },
    )
    print(
        f"\n## hookwire benchmark, {about['date']}\n\n"
        f"{about['nproc']} x {about['cpuModel']}, {about['memoryGB']} GB, Python "
        f"{about['python']}, SQLite {about['sqlite']}, PostgreSQL "
        f"{about.get('postgresql', 'not used')}; hookwire {about['hookwire']} "
        f"({about['commit']}{', uncommitted changes' if about['uncommittedChanges'] else ''}); "
        f"load average {about['loadAverage1m']} at start. Medians of {repeats} repeat(s); "
        f"run took {duration / 60:.1f} min.\n\n{table}\n\n"
        f"CPU seconds per process:\n\n{cpu}\n\n{details}\n\nwritten to {output}"
    )
    if incomplete:
        print(f"\nINCOMPLETE (not everything arrived exactly once): {', '.join(incomplete)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
