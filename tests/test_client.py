"""``hookwire.client.AsyncClient`` against the real app in-process, on both databases.

The app runs through ``httpx.ASGITransport`` (no lifespan, so no in-process
worker): deliveries happen when the test drives ``Worker.run_until_idle()``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hookwire.app import create_app
from hookwire.client import (
    AsyncClient,
    Conflict,
    FieldError,
    Forbidden,
    Invalid,
    LogEntry,
    NotFound,
    Page,
    Unauthorized,
)
from hookwire.config import Settings
from hookwire.delivery import Worker
from hookwire.signing import verify
from hookwire.storage import Storage
from tests.conftest import ADMIN_KEY
from tests.receivers import Receiver, ok, quick

BASE_URL = "http://hookwire.test"
TOKEN = "client-test-token-0123456789"


class Hookwire:
    """The in-process app, with an admin client and a way to make more clients."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage
        self.transport = httpx.ASGITransport(app=create_app(settings, storage))
        self._clients: list[AsyncClient] = []
        self.admin = self.client(ADMIN_KEY)

    def client(self, key: str) -> AsyncClient:
        """A client of this app acting with ``key``."""
        client = AsyncClient(BASE_URL, key, transport=self.transport)
        self._clients.append(client)
        return client

    async def tenant(self, tenant_id: str) -> AsyncClient:
        """A tenant with that id, and a client acting with a key of its own."""
        await self.admin.create_tenant(tenant_id.title(), id=tenant_id)
        key = await self.admin.create_api_key(tenant_id, name="client test")
        assert key.key is not None
        return self.client(key.key)

    async def deliver(self) -> None:
        """Deliver everything due, retries included (a short schedule: three attempts)."""
        async with Worker(self.storage, quick(self.settings)) as worker:
            await worker.run_until_idle()

    async def close(self) -> None:
        for client in self._clients:
            await client.close()


@pytest.fixture
async def hookwire(settings: Settings, storage: Storage) -> AsyncIterator[Hookwire]:
    app = Hookwire(settings, storage)
    try:
        yield app
    finally:
        await app.close()


async def test_walkthrough_from_the_catalogue_to_a_resend(hookwire: Hookwire) -> None:
    admin = hookwire.admin
    created_type = await admin.create_event_type(
        "license.created",
        description="A license was issued",
        schema={"type": "object", "required": ["key"]},
    )
    assert created_type.schema == {"type": "object", "required": ["key"]}
    acme = await hookwire.tenant("acme")
    async with Receiver(ok()) as receiver:
        webhook = await acme.create_webhook(
            "acme", name="Billing", url=receiver.url, token=TOKEN, events=["license.created"]
        )
        assert (webhook.token, webhook.events, webhook.active) == (
            TOKEN,
            ("license.created",),
            True,
        )

        accepted = await acme.send_event("acme", "license.created", {"key": "K-1"})
        assert (accepted.event, accepted.deliveries, accepted.replayed) == (
            "license.created",
            1,
            False,
        )
        assert accepted.triggered_at.tzinfo is not None
        await hookwire.deliver()

        [request] = receiver.requests
        assert json.loads(request.body)["data"] == {"key": "K-1"}
        assert verify(TOKEN, request.body, request.headers["Webhook-Signature"])

        event = await acme.get_event("acme", accepted.id)
        [delivery] = event.deliveries
        assert (event.data, delivery.state, delivery.attempts) == ({"key": "K-1"}, "succeeded", 1)
        assert request.headers["Webhook-Id"] == delivery.id

        logs = await acme.list_webhook_logs("acme", webhook.id)
        [entry] = logs.data
        assert (entry.status_code, entry.success, entry.trigger) == (200, True, "scheduled")
        assert entry.delivery_id == delivery.id and entry.response_body == "ok"
        assert logs.next_cursor is None

        resent = await acme.resend_delivery("acme", delivery.id)
        assert resent.id == delivery.id and resent.state == "pending"
        await hookwire.deliver()

        assert receiver.ids() == [delivery.id, delivery.id]
        detail = await acme.get_delivery("acme", delivery.id)
        assert [(e.attempt, e.trigger) for e in detail.logs] == [(1, "scheduled"), (2, "manual")]
        assert detail.logs[1].retry_reason == "manual resend"


async def test_every_catalogue_tenant_and_key_operation(hookwire: Hookwire) -> None:
    admin = hookwire.admin
    await admin.create_event_type("license.created")
    changed = await admin.update_event_type("license.created", description="Issued")
    assert (changed.description, changed.schema) == ("Issued", None)
    with_schema = await admin.update_event_type("license.created", schema={"type": "object"})
    assert (with_schema.description, with_schema.schema) == ("Issued", {"type": "object"})
    without = await admin.update_event_type("license.created", schema=None)
    assert (without.description, without.schema) == ("Issued", None)
    assert (await admin.get_event_type("license.created")).description == "Issued"
    await admin.delete_event_type("license.created")
    with pytest.raises(NotFound):
        await admin.get_event_type("license.created")

    tenant = await admin.create_tenant("Acme")  # the server picks the id
    assert (await admin.update_tenant(tenant.id, name="Acme Inc")).name == "Acme Inc"
    assert (await admin.get_tenant(tenant.id)).name == "Acme Inc"

    key = await admin.create_api_key(tenant.id)
    assert key.key is not None and key.key.startswith(key.prefix)
    [listed] = (await admin.list_api_keys(tenant.id)).data
    assert (listed.id, listed.name, listed.key) == (key.id, "default", None)
    tenant_client = hookwire.client(key.key)
    assert (await tenant_client.list_webhooks(tenant.id)).data == ()
    await admin.revoke_api_key(tenant.id, key.id)
    with pytest.raises(Unauthorized):
        await tenant_client.list_webhooks(tenant.id)

    await admin.delete_tenant(tenant.id)
    with pytest.raises(NotFound):
        await admin.get_tenant(tenant.id)


async def test_every_webhook_operation(hookwire: Hookwire) -> None:
    admin = hookwire.admin
    await admin.create_event_type("license.created")
    await admin.create_tenant("Acme", id="acme")
    async with Receiver(ok(status=500)) as receiver:
        webhook = await admin.create_webhook(
            "acme", name="Billing", url=receiver.url, rate_limit=5, headers={"X-Team": "billing"}
        )
        assert webhook.events == ("*",) and len(webhook.token) > 0

        updated = await admin.update_webhook(
            "acme", webhook.id, name="Billing EU", events=["license.created"], rate_limit=None
        )
        assert (updated.name, updated.events, updated.rate_limit) == (
            "Billing EU",
            ("license.created",),
            None,
        )
        assert updated.headers == {"X-Team": "billing"}  # what was not given is kept
        [listed] = (await admin.list_webhooks("acme")).data
        assert listed.token != webhook.token  # masked in lists

        rotated = await admin.rotate_webhook_token("acme", webhook.id)
        assert rotated.token != webhook.token
        assert (await admin.get_webhook("acme", webhook.id)).token == rotated.token

        test = await admin.send_test_event("acme", webhook.id)
        assert (test.event, test.deliveries, test.hint) == ("webhook.test", 1, None)
        [delivery] = (await admin.get_event("acme", test.id)).deliveries
        await hookwire.deliver()  # 500 on every attempt: failed
        assert len(receiver.requests) == 3
        failed = await admin.get_delivery("acme", delivery.id)
        assert failed.state == "failed"

        since = datetime.now(UTC) - timedelta(hours=1)
        assert await admin.recover_webhook("acme", webhook.id, since) == 1
        assert (await admin.get_delivery("acme", failed.id)).state == "pending"

        await admin.delete_webhook("acme", webhook.id)
        with pytest.raises(NotFound):
            await admin.get_webhook("acme", webhook.id)


async def test_log_filters_reach_the_server(hookwire: Hookwire) -> None:
    admin = hookwire.admin
    for name in ("license.created", "license.expired"):
        await admin.create_event_type(name)
    await admin.create_tenant("Acme", id="acme")
    async with Receiver(ok()) as receiver:
        receiver.answer(ok(status=500), ok(status=500), ok(status=500))
        webhook = await admin.create_webhook("acme", name="Billing", url=receiver.url)
        await admin.send_event("acme", "license.expired", {"key": "K-1"})
        await hookwire.deliver()
        await admin.send_event("acme", "license.created", {"key": "K-2"})
        await hookwire.deliver()

    async def codes(page: Awaitable[Page[LogEntry]]) -> list[int | None]:
        return [entry.status_code for entry in (await page).data]

    logs, hour_ago = admin.list_webhook_logs, datetime.now(UTC) - timedelta(hours=1)
    assert await codes(logs("acme", webhook.id)) == [200, 500, 500, 500]
    assert await codes(logs("acme", webhook.id, success=False)) == [500, 500, 500]
    assert await codes(logs("acme", webhook.id, status_code=200)) == [200]
    assert await codes(logs("acme", webhook.id, event="license.expired")) == [500, 500, 500]
    assert await codes(logs("acme", webhook.id, until=hour_ago)) == []
    assert await codes(logs("acme", webhook.id, since=hour_ago, success=True)) == [200]


async def test_iterators_follow_next_cursor(hookwire: Hookwire) -> None:
    admin = hookwire.admin
    ids = [f"tenant-{n}" for n in range(5)]
    for tenant_id in ids:
        await admin.create_tenant(tenant_id, id=tenant_id)

    first = await admin.list_tenants(limit=2)
    assert [t.id for t in first.data] == ids[:2] and first.next_cursor is not None
    assert [t.id async for t in admin.iter_tenants(limit=2)] == ids

    await admin.create_event_type("license.created")
    for n in range(3):
        await admin.send_event("tenant-0", "license.created", {"n": n})
    events = [e.data["n"] async for e in admin.iter_events("tenant-0", limit=2)]
    assert events == [2, 1, 0]  # newest first, across two pages


async def test_each_error_class_carries_the_problem(hookwire: Hookwire) -> None:
    with pytest.raises(Unauthorized) as unauthorized:
        await hookwire.client("hw_wrong-key-0123456789").list_tenants()
    assert unauthorized.value.status == 401 and "key" in unauthorized.value.detail

    acme = await hookwire.tenant("acme")
    with pytest.raises(Forbidden) as forbidden:
        await acme.create_tenant("Mine")
    assert forbidden.value.status == 403 and "admin key" in forbidden.value.detail

    with pytest.raises(NotFound) as not_found:
        await hookwire.admin.get_webhook("acme", "wh_missing")
    assert not_found.value.status == 404
    assert not_found.value.request == "GET /v1/tenants/acme/webhooks/wh_missing"

    with pytest.raises(Conflict) as conflict:
        await hookwire.admin.create_tenant("Again", id="acme")
    assert conflict.value.status == 409 and conflict.value.title == "Conflict"

    with pytest.raises(Invalid) as invalid:
        await acme.create_webhook("acme", name="", url="ftp://example.com/hook")
    problem = invalid.value
    assert (problem.status, problem.type) == (
        422,
        "https://hookwire.dev/problems/unprocessable-content",
    )
    assert {e.field for e in problem.errors} == {"name", "url"}
    assert all(isinstance(e, FieldError) and e.message for e in problem.errors)
    assert "http://" in str(problem)


async def test_the_same_idempotency_key_or_id_returns_the_first_event(hookwire: Hookwire) -> None:
    await hookwire.admin.create_event_type("license.created")
    acme = await hookwire.tenant("acme")
    async with Receiver(ok()) as receiver:
        await acme.create_webhook("acme", name="Billing", url=receiver.url)
        first = await acme.send_event("acme", "license.created", {"n": 1}, idempotency_key="o-42")
        again = await acme.send_event("acme", "license.created", {"n": 2}, idempotency_key="o-42")
        assert (again.id, again.replayed, first.replayed) == (first.id, True, False)

        by_id = await acme.send_event("acme", "license.created", {"n": 3}, id="evt-7")
        repeated = await acme.send_event("acme", "license.created", {"n": 4}, id="evt-7")
        assert (by_id.id, repeated.id, repeated.replayed) == ("evt-7", "evt-7", True)

        await hookwire.deliver()
        assert len(receiver.requests) == 2
    assert [e.id async for e in acme.iter_events("acme")] == ["evt-7", first.id]


async def test_a_tenant_key_client_sees_only_its_tenant(hookwire: Hookwire) -> None:
    acme = await hookwire.tenant("acme")
    globex = await hookwire.tenant("globex")
    mine = await acme.create_webhook("acme", name="Mine", url="https://acme.example/hook")
    theirs = await globex.create_webhook("globex", name="Theirs", url="https://globex.example/h")

    assert [w.id async for w in acme.iter_webhooks("acme")] == [mine.id]
    with pytest.raises(NotFound):
        await acme.get_webhook("globex", theirs.id)
    with pytest.raises(NotFound):  # another tenant's path is absent, not forbidden
        await acme.list_webhooks("globex")
    with pytest.raises(NotFound):  # and its webhook is not found under one's own tenant
        await acme.get_webhook("acme", theirs.id)
    with pytest.raises(Forbidden):
        await acme.list_tenants()
    assert [w.id async for w in hookwire.admin.iter_webhooks("globex")] == [theirs.id]


async def test_ids_with_dots_and_colons_stay_one_path_segment(hookwire: Hookwire) -> None:
    tenant = await hookwire.admin.create_tenant("EU", id="acme.eu:1")
    assert (await hookwire.admin.get_tenant("acme.eu:1")) == tenant
    # Unescaped, ".." would be resolved away: GET /v1, a 404 about the path, not the tenant.
    with pytest.raises(NotFound) as not_found:
        await hookwire.admin.get_tenant("..")
    assert "tenant '..'" in not_found.value.detail
    # Unescaped, "?" would start the query: GET /v1/tenants/a, a 404 about tenant 'a'.
    with pytest.raises(NotFound) as not_found:
        await hookwire.admin.get_tenant("a?b")
    assert "tenant 'a?b'" in not_found.value.detail


async def test_portal_link_is_a_sign_in_url(hookwire: Hookwire) -> None:
    await hookwire.admin.create_tenant("Acme", id="acme")
    before = datetime.now(UTC)
    link = await hookwire.admin.create_portal_link("acme")
    assert link.url.startswith("http") and "/portal/" in link.url
    assert link.expires_at is not None and link.expires_at > before
    await hookwire.admin.end_portal_sessions("acme")  # 204: tests/test_portal.py shows its effect
    with pytest.raises(NotFound):
        await hookwire.admin.end_portal_sessions("nobody")
