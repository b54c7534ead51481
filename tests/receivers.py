"""Real webhook receivers for tests: aiohttp servers on 127.0.0.1 that answer as told.

A :class:`Receiver` records every request it gets and answers each with the
next scripted behaviour (then with its default). Tests wait on what it has
received with :meth:`Receiver.wait_for`, never on a fixed sleep.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hookwire.config import Settings
from hookwire.metrics import Metrics
from hookwire.records import Event, Webhook
from hookwire.service.catalog import Catalog
from hookwire.service.events import Events
from hookwire.service.inputs import EventCreate
from hookwire.storage import Storage

Behaviour = Callable[["Receiver", web.Request], Awaitable[web.StreamResponse]]
WAIT_SECONDS = 15.0
BIG_BODY_CHUNK = b"x" * 65536


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # monotonic


class Receiver:
    """A webhook endpoint on a free port of 127.0.0.1."""

    def __init__(self, default: Behaviour | None = None) -> None:
        self.requests: list[Received] = []
        self.in_progress = 0
        self.peak = 0  # the most requests it was answering at once
        self.script: deque[Behaviour] = deque()
        self.default = default or ok()
        self.release = asyncio.Event()  # ends every hang()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer(self, *behaviours: Behaviour) -> None:
        """Answer the next requests with these behaviours, in order."""
        self.script.extend(behaviours)

    async def __aenter__(self) -> Receiver:
        app = web.Application(client_max_size=1024**2)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.release.set()
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        behaviour = self.script.popleft() if self.script else self.default
        async with self._changed:
            self.requests.append(
                Received(request.path, dict(request.headers), body, time.monotonic())
            )
            self.in_progress += 1
            self.peak = max(self.peak, self.in_progress)
            self._changed.notify_all()
        try:
            return await behaviour(self, request)
        finally:
            async with self._changed:
                self.in_progress -= 1
                self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[Receiver], bool], timeout: float = WAIT_SECONDS
    ) -> None:
        """Wait until ``predicate(self)`` holds; fail the test after ``timeout`` seconds."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    def ids(self) -> list[str]:
        """The Webhook-Id of every request, in arrival order."""
        return [r.headers["Webhook-Id"] for r in self.requests]


# --- behaviours ---------------------------------------------------------------


def ok(status: int = 200, body: str = "ok", headers: dict[str, str] | None = None) -> Behaviour:
    """Answer at once with ``status``."""

    async def behaviour(_receiver: Receiver, _request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=body, headers=headers)

    return behaviour


def slow(seconds: float, status: int = 200) -> Behaviour:
    """Answer ``status`` after ``seconds``: a receiver that takes its time."""

    async def behaviour(_receiver: Receiver, _request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response(status=status, text="slow")

    return behaviour


def hang() -> Behaviour:
    """Answer 200 only once the test sets ``receiver.release`` (or the receiver stops)."""

    async def behaviour(receiver: Receiver, _request: web.Request) -> web.StreamResponse:
        await receiver.release.wait()
        return web.Response(text="late")

    return behaviour


def reset() -> Behaviour:
    """Drop the connection with a TCP reset instead of answering."""

    async def behaviour(_receiver: Receiver, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        return web.Response()

    return behaviour


def redirect(status: int = 302) -> Behaviour:
    async def behaviour(receiver: Receiver, _request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": receiver.url + "/elsewhere"})

    return behaviour


def big_body(total_bytes: int) -> Behaviour:
    """A 200 with a body of ``total_bytes`` (the client is expected to stop reading early)."""

    async def behaviour(_receiver: Receiver, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.content_length = total_bytes
        await response.prepare(request)
        sent = 0
        try:
            while sent < total_bytes:
                chunk = BIG_BODY_CHUNK[: total_bytes - sent]
                await response.write(chunk)
                sent += len(chunk)
        except (ConnectionResetError, ConnectionError):
            pass  # the client hung up after what it wanted
        return response

    return behaviour


# --- scenario helpers -----------------------------------------------------------


async def make_webhook(
    storage: Storage, url: str, tenant_id: str = "acme", **fields: Any
) -> Webhook:
    """A tenant (created when missing), the catalogue's test types, and one webhook."""
    from hookwire.errors import Conflict

    for name in ("license.created", "license.expired"):
        try:
            await storage.create_event_type(name, "", None)
        except Conflict:
            pass
    try:
        await storage.create_tenant(tenant_id, tenant_id)
    except Conflict:
        pass
    values: dict[str, Any] = {
        "name": "receiver",
        "description": "",
        "url": url,
        "token": "test-token-0123456789",
        "events": ["*"],
        "active": True,
        "headers": {},
        "signature_scheme": "hookwire",
        "max_concurrency": 10,
        "rate_limit": None,
        "ordering": "none",
    }
    values.update(fields)
    return await storage.create_webhook(tenant_id, values)


async def send_event(
    storage: Storage, tenant_id: str = "acme", event_type: str = "license.created", **data: Any
) -> Event:
    """Trigger one event as the API would."""
    new = EventCreate(event=event_type, data=data or {"key": "K-1"})
    return (await Events(storage, Catalog(storage), Metrics()).trigger(tenant_id, new)).event


def quick(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with a short retry schedule and timeout, plus ``changes``."""
    values: dict[str, Any] = {
        "retry_schedule": (0.05, 0.05),
        "retry_jitter": 0.0,
        "request_timeout_seconds": 2.0,
    }
    values.update(changes)
    return settings.model_copy(update=values)


class RawReceiver:
    """A receiver on 127.0.0.1 that answers every request with fixed raw bytes.

    For answers an HTTP library would refuse to produce (a NUL in the body, a
    header byte that is not UTF-8). It counts the requests it read.
    """

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.requests = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __aenter__(self) -> RawReceiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            self.requests += 1
            writer.write(self.answer)
            await writer.drain()
        finally:
            writer.close()
