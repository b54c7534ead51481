"""What every scenario is given: sizes, the receiver, keys, and small shared helpers."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.procs import hookwire_env
from bench.receiver import ReceiverClient

# A condition on the database (all delivered, all attempted) is checked this often.
CONDITION_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Sizes:
    """How much each scenario does; ``quick()`` is a tenth of it."""

    connections: int = 50
    ingest_events: int = 20_000
    ingest_max_seconds: float = 20.0
    healthz_requests: int = 20_000
    healthz_max_seconds: float = 10.0
    warmup_requests: int = 200
    latency_rate_per_second: float = 200.0
    latency_seconds: float = 20.0
    deliveries: int = 5_000
    webhooks: int = 10
    concurrency_per_webhook: int = 10
    fanout_webhooks: int = 1_000
    memory_deliveries: int = 100_000
    memory_step: int = 10_000
    # The longest a memory step waits for the worker to attempt what it added.
    memory_step_seconds: float = 5.0
    # The longest any scenario waits for what it sent to arrive, or to be attempted.
    wait_seconds: float = 180.0

    def quick(self) -> Sizes:
        return replace(
            self,
            ingest_events=self.ingest_events // 10,
            ingest_max_seconds=self.ingest_max_seconds / 10,
            healthz_requests=self.healthz_requests // 10,
            healthz_max_seconds=self.healthz_max_seconds / 10,
            warmup_requests=self.warmup_requests // 10,
            latency_seconds=self.latency_seconds / 10,
            deliveries=self.deliveries // 10,
            fanout_webhooks=self.fanout_webhooks // 10,
            memory_deliveries=self.memory_deliveries // 10,
            memory_step=self.memory_step // 10,
            memory_step_seconds=self.memory_step_seconds / 5,
            wait_seconds=self.wait_seconds / 3,
        )


@dataclass
class Context:
    """One benchmark run's shared state."""

    sizes: Sizes
    repeats: int
    workdir: Path
    receiver: ReceiverClient
    admin_key: str
    secret_key: str

    def env(self, database_url: str, **settings: str) -> dict[str, str]:
        """A hookwire process's environment for this run (``settings``: HOOKWIRE_* in lowercase)."""
        return hookwire_env(database_url, self.secret_key, self.admin_key, self.workdir, **settings)

    @property
    def receiver_pid(self) -> int:
        return self.receiver.service.pid


def log(message: str) -> None:
    """Progress on the terminal while a run goes (the table comes at the end)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


async def until(
    check: Callable[[], Awaitable[bool]],
    timeout_seconds: float,
    *,
    between: Callable[[], None] | None = None,
) -> bool:
    """Await ``check`` holding (polled); False when ``timeout_seconds`` passed first.

    ``between`` runs after each unsuccessful check (e.g. to sample memory).
    """
    deadline = time.monotonic() + timeout_seconds
    while not await check():
        if between is not None:
            between()
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(CONDITION_POLL_SECONDS)
    return True


def median(repeats: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in repeats if r.get(key) is not None]
    return statistics.median(values) if values else float("nan")


def cpu_ms_per(cpu_seconds: float, count: int) -> float | None:
    """CPU milliseconds per item (None when nothing was counted)."""
    return cpu_seconds * 1000 / count if count else None
