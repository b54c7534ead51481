"""Custom webhook headers are secrets: encrypted at rest, masked in lists and in the log."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hookwire.config import Settings
from hookwire.crypto import TokenCipher
from hookwire.delivery import Worker
from hookwire.masking import mask_header_value
from hookwire.storage import Storage
from hookwire.storage.migrate import migrate
from tests.conftest import SECRET_KEY, insert_old_webhook, upgrade_to
from tests.receivers import Receiver, make_webhook, send_event

SECRET_HEADERS = {"Authorization": "Bearer rcv-s3cret-0042", "X-Api-Key": "k3y-0042"}


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Bearer abc.def", "Bearer ••••"),
        ("Basic eDp5", "Basic ••••"),
        ("abc123", "••••"),
        ("not-a scheme", "••••"),
        ("", "••••"),
    ],
)
def test_mask_header_value(value: str, shown: str) -> None:
    assert mask_header_value(value) == shown


async def test_headers_are_encrypted_at_rest(storage: Storage) -> None:
    webhook = await make_webhook(storage, "https://receiver.example/hook", headers=SECRET_HEADERS)
    async with storage.engine.connect() as conn:
        row = (await conn.execute(sa.text("SELECT * FROM webhooks"))).mappings().one()
    assert "headers" not in row
    stored = " ".join(str(v) for v in row.values())
    assert "rcv-s3cret" not in stored and "k3y-0042" not in stored
    assert (await storage.get_webhook("acme", webhook.id)).headers == SECRET_HEADERS


async def test_lists_mask_header_values_single_reads_show_them(
    api: httpx.AsyncClient, storage: Storage
) -> None:
    webhook = await make_webhook(storage, "https://receiver.example/hook", headers=SECRET_HEADERS)
    listed = (await api.get("/v1/tenants/acme/webhooks")).json()["data"]
    assert listed[0]["headers"] == {"Authorization": "Bearer ••••", "X-Api-Key": "••••"}
    one = (await api.get(f"/v1/tenants/acme/webhooks/{webhook.id}")).json()
    assert one["headers"] == SECRET_HEADERS


async def test_the_event_log_keeps_header_values_masked(
    storage: Storage, settings: Settings, api: httpx.AsyncClient
) -> None:
    async with Receiver() as receiver:
        await make_webhook(storage, receiver.url, headers=SECRET_HEADERS)
        event = await send_event(storage)
        async with Worker(storage, settings) as worker:
            await worker.run_until_idle()
    [request] = receiver.requests
    assert request.headers["Authorization"] == SECRET_HEADERS["Authorization"]
    [entry] = await storage.list_delivery_logs("acme", event.deliveries[0].id)
    assert entry.request_headers["Authorization"] == "Bearer ••••"
    assert entry.request_headers["X-Api-Key"] == "••••"
    assert entry.request_headers["Webhook-Id"] == event.deliveries[0].id
    detail = await api.get(f"/v1/tenants/acme/deliveries/{event.deliveries[0].id}")
    assert "rcv-s3cret" not in detail.text and "k3y-0042" not in detail.text


async def test_the_migration_encrypts_existing_headers(blank_engine: AsyncEngine) -> None:
    await upgrade_to(blank_engine, "0002")
    async with blank_engine.begin() as conn:
        cipher = TokenCipher(SECRET_KEY)
        await insert_old_webhook(
            conn,
            datetime(2026, 1, 1, tzinfo=UTC),
            {
                "token": cipher.encrypt("tok-0123456789"),
                "headers": '{"Authorization": "Bearer rcv-s3cret-0042"}',
            },
            headers=":headers",
        )
    with pytest.raises(RuntimeError, match="HOOKWIRE_SECRET_KEY"):
        await migrate(blank_engine)
    await migrate(blank_engine, cipher)
    storage = Storage(blank_engine, cipher)
    webhook = await storage.get_webhook("acme", "wh_1")
    assert webhook.headers == {"Authorization": "Bearer rcv-s3cret-0042"}
