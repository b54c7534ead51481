"""The storage contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from hookwire.errors import Conflict, InvalidCursor, NotFound
from hookwire.payload import build_payload
from hookwire.storage import Storage
from hookwire.storage.tables import api_keys, deliveries, events, log_entries, webhooks

WEBHOOK = {
    "name": "orders",
    "url": "https://receiver.example/hook",
    "token": "s3cret-token-value",
    "events": ["license.created"],
    "active": True,
    "description": "",
    "headers": {"X-Team": "billing"},
    "signature_scheme": "hookwire",
    "max_concurrency": 10,
    "rate_limit": None,
}


async def test_tenant_lifecycle(storage: Storage) -> None:
    tenant = await storage.create_tenant("Acme", "acme")
    assert (await storage.get_tenant("acme")).name == "Acme"
    with pytest.raises(Conflict):
        await storage.create_tenant("Again", "acme")
    renamed = await storage.update_tenant("acme", "Acme Inc")
    assert renamed.name == "Acme Inc" and renamed.created_at == tenant.created_at
    await storage.delete_tenant("acme")
    with pytest.raises(NotFound):
        await storage.get_tenant("acme")


async def test_api_keys_are_stored_as_hashes_only(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    key = "hw_tenant_abcdefghijklmnopqrstuvwxyz0123456789"
    await storage.create_api_key(key, "acme", "ci")
    found = await storage.find_api_key(key)
    assert found is not None and found.tenant_id == "acme"
    assert await storage.find_api_key(key + "x") is None
    async with storage.read() as conn:
        stored = (await conn.execute(sa.select(api_keys))).one()
    assert key not in {str(v) for v in stored}
    assert stored.key_hash != key and len(stored.key_hash) == 64


async def test_webhook_token_is_encrypted_at_rest(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    hook = await storage.create_webhook("acme", WEBHOOK)
    assert hook.token == WEBHOOK["token"]
    async with storage.read() as conn:
        raw = (await conn.execute(sa.select(webhooks.c.token_encrypted))).scalar_one()
    assert WEBHOOK["token"] not in raw


async def test_webhooks_are_scoped_to_their_tenant(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    await storage.create_tenant("Other", "other")
    hook = await storage.create_webhook("acme", WEBHOOK)
    with pytest.raises(NotFound):
        await storage.get_webhook("other", hook.id)
    with pytest.raises(NotFound):
        await storage.update_webhook("other", hook.id, {"name": "stolen"})
    with pytest.raises(NotFound):
        await storage.delete_webhook("other", hook.id)
    assert (await storage.get_webhook("acme", hook.id)).name == "orders"


async def test_webhook_update_bumps_version_and_reactivates(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    hook = await storage.create_webhook("acme", WEBHOOK)
    async with storage.write() as conn:
        await conn.execute(
            webhooks.update().values(
                status="suspended", active=False, failing_since=hook.created_at
            )
        )
    again = await storage.update_webhook("acme", hook.id, {"active": True})
    assert again.status == "healthy" and again.active and again.failing_since is None
    assert again.version == hook.version + 1


async def test_rotation_keeps_the_previous_token(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    hook = await storage.create_webhook("acme", WEBHOOK)
    until = datetime(2030, 1, 1, tzinfo=UTC)
    rotated = await storage.rotate_webhook_token("acme", hook.id, "new-token-value", until)
    assert rotated.token == "new-token-value"
    assert rotated.previous_token == WEBHOOK["token"]
    assert rotated.previous_token_expires_at == until


async def test_pagination_stays_correct_while_rows_are_inserted(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    created = [await storage.create_webhook("acme", {**WEBHOOK, "name": f"h{i}"}) for i in range(5)]
    first = await storage.list_webhooks("acme", 2, None)
    assert [w.name for w in first.items] == ["h0", "h1"]
    # Rows added after the first page appear at the end, never twice or skipped.
    await storage.create_webhook("acme", {**WEBHOOK, "name": "late"})
    seen = [w.name for w in first.items]
    cursor = first.next_cursor
    while cursor:
        page = await storage.list_webhooks("acme", 2, cursor)
        seen += [w.name for w in page.items]
        cursor = page.next_cursor
    assert seen == [w.name for w in created] + ["late"]


async def test_a_forged_cursor_is_refused(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    with pytest.raises(InvalidCursor):
        await storage.list_webhooks("acme", 2, "not-a-cursor")


async def test_accepting_an_event_fans_out_to_matching_active_webhooks(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    match = await storage.create_webhook("acme", WEBHOOK)
    await storage.create_webhook("acme", {**WEBHOOK, "events": ["license.expired"]})
    await storage.create_webhook("acme", {**WEBHOOK, "active": False})
    every = await storage.create_webhook("acme", {**WEBHOOK, "events": ["*"]})
    now = datetime.now(UTC)
    payload = build_payload("license.created", {"key": "K"}, now)
    event, created = await storage.accept_event("acme", None, "license.created", payload, now)
    assert created
    assert {d.webhook_id for d in event.deliveries} == {match.id, every.id}
    assert {d.state for d in event.deliveries} == {"pending"}
    assert event.payload == payload


async def test_repeated_event_id_or_idempotency_key_returns_the_first(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    await storage.create_webhook("acme", WEBHOOK)
    now = datetime.now(UTC)
    payload = build_payload("license.created", {}, now)
    first, _ = await storage.accept_event("acme", "order-1", "license.created", payload, now)
    again, created = await storage.accept_event("acme", "order-1", "license.created", b"{}", now)
    assert not created and again.id == first.id and again.payload == payload
    keyed, _ = await storage.accept_event(
        "acme", None, "license.created", payload, now, idempotency_key="k1"
    )
    repeat, created = await storage.accept_event(
        "acme", None, "license.created", payload, now, idempotency_key="k1"
    )
    assert not created and repeat.id == keyed.id
    page = await storage.list_events("acme", 10, None)
    assert len(page.items) == 2
    assert sum(len(e.deliveries) for e in page.items) == 2


async def test_concurrent_idempotent_requests_create_one_event(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    await storage.create_webhook("acme", WEBHOOK)
    now = datetime.now(UTC)
    payload = build_payload("license.created", {}, now)
    results = await asyncio.gather(
        *[
            storage.accept_event(
                "acme", None, "license.created", payload, now, idempotency_key="same"
            )
            for _ in range(8)
        ]
    )
    assert len({event.id for event, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len((await storage.list_events("acme", 50, None)).items) == 1


async def test_same_event_id_in_two_tenants_does_not_collide(storage: Storage) -> None:
    now = datetime.now(UTC)
    for tenant in ("a", "b"):
        await storage.create_tenant(tenant, tenant)
        _, created = await storage.accept_event(tenant, "evt-1", "x.y", b"{}", now)
        assert created


async def test_deleting_a_tenant_removes_its_data(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    await storage.create_webhook("acme", WEBHOOK)
    suspended = await storage.create_webhook("acme", WEBHOOK)
    async with storage.write() as conn:  # its deliveries are skipped, with a log entry
        await conn.execute(
            webhooks.update().where(webhooks.c.id == suspended.id).values(status="suspended")
        )
    await storage.create_api_key("hw_tenant_key-for-deletion-test-0123456789", "acme", "k")
    now = datetime.now(UTC)
    event, _ = await storage.accept_event("acme", None, "license.created", b"{}", now)
    assert sorted(d.state for d in event.deliveries) == ["pending", "skipped"]
    await storage.delete_tenant("acme")
    assert await storage.find_api_key("hw_tenant_key-for-deletion-test-0123456789") is None
    with pytest.raises(NotFound):
        await storage.get_tenant("acme")
    async with storage.read() as conn:
        for table in (webhooks, events, deliveries, log_entries):
            count = await conn.scalar(sa.select(sa.func.count()).select_from(table))
            assert count == 0, table.name


async def test_a_webhooks_pending_deliveries_are_listed_oldest_first(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    await storage.create_tenant("Other", "other")
    hook = await storage.create_webhook("acme", WEBHOOK)
    ids = []
    for _ in range(3):
        now = datetime.now(UTC)
        event, _ = await storage.accept_event("acme", None, "license.created", b"{}", now)
        ids.append(event.deliveries[0].id)
    async with storage.write() as conn:  # the middle one is done
        await conn.execute(
            deliveries.update().where(deliveries.c.id == ids[1]).values(state="succeeded")
        )
    pending = await storage.list_pending_deliveries("acme", hook.id)
    assert [d.id for d in pending] == [ids[0], ids[2]]
    assert await storage.list_pending_deliveries("other", hook.id) == []
