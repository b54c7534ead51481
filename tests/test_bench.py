"""The benchmark as an instrument: it completes, and it counts deliveries exactly.

Speed is never checked here; only that ``python -m bench --quick`` runs every
scenario to the end on SQLite and that what was sent arrived exactly once
(the PostgreSQL scenarios, two workers among them, are left to ``make bench``).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from bench.context import Sizes
from bench.receiver import make_app

REPOSITORY = Path(__file__).parent.parent
QUICK_BENCH_TIMEOUT_SECONDS = 110


@pytest.fixture
async def receiver_url() -> AsyncIterator[str]:
    runner = web.AppRunner(make_app(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    await runner.cleanup()


async def test_the_receiver_counts_a_repeated_webhook_id_as_a_duplicate(receiver_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for webhook_id in ("dlv_1", "dlv_2", "dlv_1"):
            async with session.post(
                f"{receiver_url}/hook", data=b"{}", headers={"Webhook-Id": webhook_id}
            ) as response:
                assert response.status == 200
        async with session.get(f"{receiver_url}/wait?count=3&timeout=5") as response:
            report = await response.json()
    assert report["received"] == 3
    assert report["distinctIds"] == 2
    assert report["duplicates"] == 1


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("bench") / "quick.json"
    process = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--backend", "sqlite", "--output", str(output)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=QUICK_BENCH_TIMEOUT_SECONDS,
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    record: dict[str, Any] = json.loads(output.read_text())
    return record


def test_the_quick_bench_runs_every_scenario_on_sqlite_only(quick_run: dict[str, Any]) -> None:
    results = quick_run["results"]
    assert quick_run["incomplete"] == []
    assert set(results) == {"ingest", "latency", "delivery", "fanout", "memory"}
    for scenario in ("ingest", "latency", "fanout", "memory"):
        assert set(results[scenario]) == {"sqlite"}, scenario
        assert results[scenario]["sqlite"]["complete"] is True, scenario
    assert "postgresql" not in results["delivery"]
    assert "| figure | SQLite | target |" in quick_run["table"]


def test_every_accepted_event_is_stored_and_every_delivery_arrives_once(
    quick_run: dict[str, Any],
) -> None:
    sizes = Sizes().quick()
    results = quick_run["results"]
    for ingest in results["ingest"]["sqlite"]["repeats"]:
        assert ingest["accepted"] == ingest["events"] == ingest["stored"] > 0
    latency = results["latency"]["sqlite"]
    assert latency["received"] == latency["distinctIds"] == latency["accepted"] > 0
    assert latency["duplicates"] == 0
    for run in results["delivery"]["sqlite"]["repeats"]:
        assert run["received"] == run["distinctIds"] == sizes.deliveries
        assert run["duplicates"] == 0
    for fanout in results["fanout"]["sqlite"]["repeats"]:
        assert fanout["received"] == fanout["distinctIds"] == sizes.fanout_webhooks
        assert fanout["distinctPaths"] == sizes.fanout_webhooks
    memory = results["memory"]["sqlite"]
    assert memory["pending"] == sizes.memory_deliveries
    assert memory["attemptedMoreThanOnce"] == 0
    assert len(memory["samples"]) == sizes.memory_deliveries // sizes.memory_step
