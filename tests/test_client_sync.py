"""``hookwire.client.Client`` (blocking) against a real ``hookwire serve``, on both databases.

The blocking calls run in a thread, so that the test's event loop keeps
answering as the webhook receiver. The server's own worker delivers; the
client polls the delivery, as a script of a user would.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from hookwire.client import Client, Conflict, Delivery, Forbidden, NotFound, Unauthorized
from hookwire.config import Settings
from hookwire.signing import verify
from tests.conftest import ADMIN_KEY, SECRET_KEY
from tests.faults import serve_process
from tests.receivers import Receiver, ok

T = TypeVar("T")
TOKEN = "client-test-token-0123456789"
DELIVERY_WAIT_SECONDS = 15.0
POLL_INTERVAL_SECONDS = 0.05


def eventually(read: Callable[[], T], done: Callable[[T], bool], what: str) -> T:
    """``read()`` again until ``done`` holds for what it returns; fail after a deadline."""
    deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last seen: {value!r}")
        time.sleep(POLL_INTERVAL_SECONDS)


def admin_walkthrough(url: str) -> str:
    """Catalogue, tenants (paged), a conflict; returns a new tenant key for tenant-0."""
    with Client(url, ADMIN_KEY) as admin:
        admin.create_event_type("license.created", description="A license was issued")
        ids = [f"tenant-{n}" for n in range(3)]
        for tenant_id in ids:
            admin.create_tenant(tenant_id.title(), id=tenant_id)
        first = admin.list_tenants(limit=2)
        assert len(first.data) == 2 and first.next_cursor is not None
        assert [t.id for t in admin.iter_tenants(limit=2)] == ids
        with pytest.raises(Conflict):
            admin.create_tenant("Again", id="tenant-0")
        key = admin.create_api_key("tenant-0", name="script")
        assert key.key is not None
        return key.key


def tenant_walkthrough(url: str, key: str, receiver_url: str) -> Delivery:
    """A webhook, an event sent twice with one Idempotency-Key, its delivery resent."""
    with Client(url, key) as tenant:
        with pytest.raises(Forbidden):
            tenant.list_tenants()
        with pytest.raises(NotFound):
            tenant.list_webhooks("tenant-1")
        webhook = tenant.create_webhook(
            "tenant-0", name="Billing", url=receiver_url, token=TOKEN, events=["license.created"]
        )
        accepted = tenant.send_event(
            "tenant-0", "license.created", {"key": "K-1"}, idempotency_key="order-42"
        )
        again = tenant.send_event(
            "tenant-0", "license.created", {"key": "K-1"}, idempotency_key="order-42"
        )
        assert (again.id, again.replayed) == (accepted.id, True)

        [pending] = tenant.get_event("tenant-0", accepted.id).deliveries
        delivered = eventually(
            lambda: tenant.get_delivery("tenant-0", pending.id),
            lambda d: d.state == "succeeded" and len(d.logs) == 1,
            "the first delivery",
        )
        [entry] = tenant.iter_webhook_logs("tenant-0", webhook.id, success=True)
        assert (entry.delivery_id, entry.status_code) == (delivered.id, 200)

        tenant.resend_delivery("tenant-0", delivered.id)
        return eventually(
            lambda: tenant.get_delivery("tenant-0", delivered.id),
            lambda d: d.state == "succeeded" and len(d.logs) == 2,
            "the resend",
        )


async def test_the_blocking_client_drives_a_real_server(settings: Settings, tmp_path: Path) -> None:
    env = {
        "HOOKWIRE_DATABASE_URL": settings.resolved_database_url,
        "HOOKWIRE_ADMIN_KEY": ADMIN_KEY,
        "HOOKWIRE_SECRET_KEY": SECRET_KEY,
        "HOOKWIRE_ALLOW_PRIVATE_NETWORKS": "true",
    }
    async with Receiver(ok()) as receiver, serve_process(env, tmp_path) as served:
        key = await asyncio.to_thread(admin_walkthrough, served.url)
        delivery = await asyncio.to_thread(tenant_walkthrough, served.url, key, receiver.url)

        assert receiver.ids() == [delivery.id, delivery.id]
        assert json.loads(receiver.requests[0].body)["data"] == {"key": "K-1"}
        assert verify(
            TOKEN, receiver.requests[1].body, receiver.requests[1].headers["Webhook-Signature"]
        )
        assert [e.trigger for e in delivery.logs] == ["scheduled", "manual"]

        with Client(served.url, "hw_not-a-key-0123456789") as stranger:
            with pytest.raises(Unauthorized):
                await asyncio.to_thread(stranger.list_event_types)


def test_a_closed_client_sends_nothing() -> None:
    client = Client("http://127.0.0.1:9", ADMIN_KEY)
    with client:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        client.list_tenants()
