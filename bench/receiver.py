"""The benchmark's webhook receiver, in its own process: ``python -m bench.receiver PORT``.

It answers 200 to every POST and records, for each request, its arrival time
(``time.monotonic()``, which is one clock for every process of the machine)
and its ``Webhook-Id``, so the driver can check that every delivery arrived
exactly once. Bodies are kept only for paths under ``/keep/`` (the latency
scenario reads the id the client put in ``data``); elsewhere the receiver does
as little as possible, so that its CPU stays out of the way.

Control routes: ``GET /report`` (counts, first and last arrival, kept bodies),
``GET /wait?count=N&timeout=S`` (answers once N requests arrived, or at the
timeout), ``DELETE /records`` (start over).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.procs import START_TIMEOUT_SECONDS, Service, free_port

KEPT_PREFIX = "/keep/"


@dataclass
class Records:
    """What arrived since the last reset."""

    received: int = 0
    ids: Counter[str] = field(default_factory=Counter)
    paths: set[str] = field(default_factory=set)
    first: float | None = None
    last: float | None = None
    kept: list[tuple[float, bytes]] = field(default_factory=list)
    waiters: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)

    def report(self, *, with_bodies: bool = False) -> dict[str, Any]:
        duplicates = sum(n - 1 for n in self.ids.values() if n > 1)
        report: dict[str, Any] = {
            "received": self.received,
            "distinctIds": len(self.ids),
            "duplicates": duplicates,
            "withoutId": self.ids.get("", 0),
            "distinctPaths": len(self.paths),
            "first": self.first,
            "last": self.last,
        }
        if with_bodies:
            report["kept"] = [[at, base64.b64encode(body).decode()] for at, body in self.kept]
        return report


def make_app() -> web.Application:
    records = Records()

    async def receive(request: web.Request) -> web.Response:
        at = time.monotonic()
        body = await request.read()
        records.received += 1
        records.ids[request.headers.get("Webhook-Id", "")] += 1
        records.paths.add(request.path)
        if records.first is None:
            records.first = at
        records.last = at
        if request.path.startswith(KEPT_PREFIX):
            records.kept.append((at, body))
        if records.waiters:
            for waiter in [w for w in records.waiters if records.received >= w[0]]:
                records.waiters.remove(waiter)
                if not waiter[1].done():
                    waiter[1].set_result(None)
        return web.Response(text="ok")

    async def report(request: web.Request) -> web.Response:
        return web.json_response(records.report(with_bodies="bodies" in request.query))

    async def wait(request: web.Request) -> web.Response:
        count = int(request.query["count"])
        if records.received < count:
            future = asyncio.get_running_loop().create_future()
            waiter = (count, future)
            records.waiters.append(waiter)
            try:
                await asyncio.wait_for(future, float(request.query["timeout"]))
            except TimeoutError:
                records.waiters.remove(waiter)
        return web.json_response(records.report())

    async def reset(_: web.Request) -> web.Response:
        nonlocal records
        for _count, future in records.waiters:
            future.cancel()
        records = Records()
        return web.json_response({"received": 0})

    app = web.Application(client_max_size=1024**2)
    app.router.add_get("/report", report)
    app.router.add_get("/wait", wait)
    app.router.add_delete("/records", reset)
    app.router.add_post("/{tail:.*}", receive)
    return app


class ReceiverClient:
    """The driver's handle on the receiver process."""

    def __init__(self, service: Service, session: aiohttp.ClientSession) -> None:
        self.service = service
        self.url = service.url
        self._session = session

    async def reset(self) -> None:
        async with self._session.delete(f"{self.url}/records") as response:
            response.raise_for_status()

    async def report(self, *, bodies: bool = False) -> dict[str, Any]:
        query = "?bodies=1" if bodies else ""
        async with self._session.get(f"{self.url}/report{query}") as response:
            response.raise_for_status()
            report: dict[str, Any] = await response.json()
        if bodies:
            report["kept"] = [(at, base64.b64decode(body)) for at, body in report["kept"]]
        return report

    async def wait_for(self, count: int, timeout_seconds: float) -> dict[str, Any]:
        """The report once ``count`` requests arrived, or when ``timeout_seconds`` passed."""
        params = {"count": str(count), "timeout": str(timeout_seconds)}
        timeout = aiohttp.ClientTimeout(total=timeout_seconds + 30)
        async with self._session.get(
            f"{self.url}/wait", params=params, timeout=timeout
        ) as response:
            response.raise_for_status()
            report: dict[str, Any] = await response.json()
        return report


async def start_receiver(workdir: Path) -> Service:
    """The receiver in its own process, once it accepts connections."""
    port = free_port()
    log = workdir / "receiver.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).parent.parent,  # where ``bench`` is importable
        )
    service = Service("receiver", process, log, f"http://127.0.0.1:{port}")
    try:
        async with asyncio.timeout(START_TIMEOUT_SECONDS):
            while True:
                service.check_alive()
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        return service
                except OSError:
                    await asyncio.sleep(0.05)
    except BaseException:
        await service.stop()
        raise


def main() -> None:
    port = int(sys.argv[1])
    web.run_app(make_app(), host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
