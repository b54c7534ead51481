"""`hookwire demo` against a real server whose lifespan runs the worker."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import uvicorn
from click.testing import CliRunner

from hookwire.app import create_app
from hookwire.cli import main
from hookwire.config import Settings
from hookwire.demo import DEMO_EVENTS, DemoError, DemoResult, describe, run_demo
from hookwire.storage import Storage
from tests.conftest import ADMIN_KEY
from tests.receivers import Receiver, quick

START_SECONDS = 10.0


@asynccontextmanager
async def serving(settings: Settings, storage: Storage) -> AsyncIterator[str]:
    """`hookwire serve` in this process on a free port; yields its base URL."""
    config = uvicorn.Config(
        create_app(settings.model_copy(update={"run_worker": True}), storage),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(START_SECONDS):
            while not server.started:
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_the_demo_delivers_signed_licensing_events(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver, serving(quick(settings), storage) as url:
        result = await run_demo(url, ADMIN_KEY, receiver.url, "demo-token-0123456789")
        await receiver.wait_for(lambda r: len(r.requests) == len(DEMO_EVENTS))
    assert [e["statusCode"] for e in result.log] == [200] * len(DEMO_EVENTS)
    for request in receiver.requests:
        digest = hmac.new(b"demo-token-0123456789", request.body, hashlib.sha256).digest()
        assert request.headers["Webhook-Signature"] == base64.b64encode(digest).decode()
    shown = describe(result, url)
    assert f"{url}/" in shown
    assert f"/v1/tenants/{result.tenant_id}/webhooks/{result.webhook_id}/logs" in shown
    assert f"hookwire listen --port {receiver.port} --token demo-token-0123456789" in shown


async def test_a_second_demo_reuses_its_tenant_and_webhook(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver, serving(quick(settings), storage) as url:
        first = await run_demo(url, ADMIN_KEY, receiver.url, "demo-token-0123456789")
        again = await run_demo(url, ADMIN_KEY, receiver.url, "other-token-0123456789")
        await receiver.wait_for(lambda r: len(r.requests) == 2 * len(DEMO_EVENTS))
    assert (again.tenant_id, again.webhook_id) == (first.tenant_id, first.webhook_id)
    assert again.token == "other-token-0123456789", "the listener's token is the webhook's"
    assert {e["eventId"] for e in again.log} == set(again.event_ids), "only this run's log"
    assert [e["statusCode"] for e in again.log] == [200] * len(DEMO_EVENTS)
    page = await storage.list_tenants(None, None)
    assert [t.id for t in page.items] == [first.tenant_id]


async def test_the_demo_explains_a_refused_private_address(
    storage: Storage, settings: Settings
) -> None:
    # The local receiver's URL is refused when the demo's webhook is created.
    guarded = quick(settings, allow_private_networks=False)
    async with Receiver() as receiver, serving(guarded, storage) as url:
        with pytest.raises(DemoError) as caught:
            await run_demo(url, ADMIN_KEY, receiver.url, None)
    assert receiver.requests == []
    message = str(caught.value)
    assert "answered 422: url: 127.0.0.1 is a loopback address" in message
    assert "HOOKWIRE_ALLOW_PRIVATE_NETWORKS" in message


def test_the_demo_explains_a_delivery_refused_by_a_worker() -> None:
    # A `hookwire worker` without HOOKWIRE_ALLOW_PRIVATE_NETWORKS beside a server with it.
    entry = {
        "event": "license.created",
        "attempt": 1,
        "sentAt": None,
        "statusCode": None,
        "error": "address not allowed: 127.0.0.1 is a loopback address",
    }
    result = DemoResult("t", "wh", "http://127.0.0.1:8000/", "tok", ["ev"], [entry])
    assert "HOOKWIRE_ALLOW_PRIVATE_NETWORKS=true" in describe(result, "http://127.0.0.1:8080")


def test_the_demo_says_when_hookwire_is_not_running() -> None:
    outcome = CliRunner().invoke(
        main, ["demo", "--url", "http://127.0.0.1:9", "--admin-key", "k"], env={}
    )
    assert outcome.exit_code == 1
    assert "cannot reach hookwire at http://127.0.0.1:9" in outcome.output
