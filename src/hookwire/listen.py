"""``hookwire listen``: a local receiver that prints every delivery and checks its signature."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

from aiohttp import web

from hookwire.formats import chat_message
from hookwire.signing import (
    HEADER_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    STANDARD_SIGNATURE_VERSION,
    verify,
    verify_standard,
)

DEFAULT_LISTEN_HOST = "127.0.0.1"
DEFAULT_LISTEN_PORT = 9000
DEFAULT_LISTEN_STATUS = 200
# Deliveries can be up to the service's body limit; leave headroom above its default.
MAX_LISTEN_BODY_BYTES = 4 * 1024 * 1024


def signature_verdict(token: str | None, headers: Mapping[str, str], body: bytes) -> str:
    """``valid``, ``INVALID`` or ``not checked (no --token)`` for one received request.

    A signature starting with ``v1,`` is checked by the standard scheme, any
    other by the hookwire scheme.
    """
    if token is None:
        return "not checked (no --token)"
    signature = headers.get(HEADER_SIGNATURE, "")
    if signature.lstrip().startswith(STANDARD_SIGNATURE_VERSION + ","):
        try:
            timestamp = int(headers.get(HEADER_TIMESTAMP, ""))
        except ValueError:
            return "INVALID"
        msg_id = headers.get(HEADER_ID, "")
        ok = verify_standard(token, msg_id, timestamp, body, signature)
    else:
        ok = verify(token, body, signature)
    return "valid" if ok else "INVALID"


def format_delivery(
    received_at: datetime,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    verdict: str,
) -> str:
    """The block printed for one request: time, path, webhook headers, body, verdict."""
    lines = [f"--- {received_at.isoformat(timespec='seconds')} {method} {path}"]
    for name in (HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE):
        lines.append(f"{name}: {headers.get(name, '(missing)')}")
    lines.append(_pretty_body(body))
    lines.append(f"signature: {verdict}")
    return "\n".join(lines) + "\n"


def _pretty_body(body: bytes) -> str:
    if not body:
        return "(empty body)"
    chat = chat_message(body)
    if chat is not None:  # a webhook with format slack or discord: the message as it reads
        app, text = chat
        return f"({app} message)\n{text}"
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:  # not JSON (or not UTF-8): show it as it came
        return body.decode("utf-8", "replace")


def create_listen_app(token: str | None, status: int, out: TextIO) -> web.Application:
    """An aiohttp app that prints each POST to ``out`` and answers ``status``."""

    async def receive(request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.Response(text="hookwire listen: POST deliveries here\n")
        body = await request.read()
        block = format_delivery(
            datetime.now(UTC),
            request.method,
            request.path_qs,
            request.headers,
            body,
            signature_verdict(token, request.headers, body),
        )
        print(block, file=out, flush=True)
        return web.Response(status=status)

    app = web.Application(client_max_size=MAX_LISTEN_BODY_BYTES)
    app.router.add_route("*", "/{tail:.*}", receive)
    return app


async def serve_listen(
    host: str, port: int, token: str | None, status: int, out: TextIO = sys.stdout
) -> None:
    """Run the receiver until SIGINT or SIGTERM; print its address once it accepts requests."""
    runner = web.AppRunner(create_listen_app(token, status, out), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        for bound in runner.addresses:
            bound_host, bound_port = bound[0], bound[1]
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            print(f"listening on http://{shown}:{bound_port}/", file=out, flush=True)
        if token is None:
            print("no --token given: signatures are not checked", file=out, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def run_listen(host: str, port: int, token: str | None, status: int) -> None:
    """Blocking entry point of ``hookwire listen``."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_listen(host, port, token, status))
