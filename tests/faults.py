"""Fault injection for tests: a TCP proxy that can freeze or cut a database, and a real server.

:class:`TcpProxy` sits between hookwire and the shared PostgreSQL server. It
passes bytes through until told to ``freeze()`` (connections stay open but
nothing moves either way, as with a stopped server process) or ``cut()``
(every connection is reset and new ones are refused, as with a crashed or
restarting server); ``restore()`` lets bytes flow again.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

CHUNK_BYTES = 65536
SERVE_START_SECONDS = 30.0


class TcpProxy:
    """A TCP proxy on 127.0.0.1 to ``target_host:target_port`` that can freeze and cut."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._cut = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._flowing.set()
        self._reset_all()
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def freeze(self) -> None:
        """Hold every byte in both directions; connecting still succeeds."""
        self._flowing.clear()

    def cut(self) -> None:
        """Reset every connection and refuse new ones."""
        self._cut = True
        self._reset_all()

    def restore(self) -> None:
        """Pass bytes again, on the connections that were frozen and on new ones."""
        self._cut = False
        self._flowing.set()

    def _reset_all(self) -> None:
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        self._writers.add(writer)
        await self._flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(CHUNK_BYTES):
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            sink.transport.abort()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """A running ``hookwire serve``: where it answers, and its process."""

    url: str
    process: asyncio.subprocess.Process


@asynccontextmanager
async def serve_process(env: dict[str, str], data_dir: Path) -> AsyncIterator[Served]:
    """A real ``hookwire serve`` with ``env`` (HOOKWIRE_*), once it answers ``/healthz``."""
    port = free_port()
    full_env = {
        **os.environ,
        "HOOKWIRE_HOST": "127.0.0.1",
        "HOOKWIRE_PORT": str(port),
        "HOOKWIRE_DATA_DIR": str(data_dir),
        **env,
    }
    log = (data_dir / "serve.log").open("ab")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from hookwire.cli import main; main()",
        "serve",
        env=full_env,
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with asyncio.timeout(SERVE_START_SECONDS), httpx.AsyncClient() as client:
            while True:
                assert process.returncode is None, (data_dir / "serve.log").read_text()
                try:
                    if (await client.get(f"{url}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        yield Served(url, process)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(SERVE_START_SECONDS):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()
