"""What the benchmarks share: fresh databases, the driver's own storage, preloaded work."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy import event as sa_event

from hookwire.config import to_async_url
from hookwire.crypto import TokenCipher
from hookwire.errors import NotFound
from hookwire.ids import new_id
from hookwire.payload import build_payload
from hookwire.service.inputs import WebhookCreate
from hookwire.storage import Storage, create_engine
from hookwire.storage import tables as t
from hookwire.storage.base import utcnow
from hookwire.storage.migrate import migrate

# SQLite as hookwire ran it before 202s were made durable (synchronous=NORMAL):
# measured beside the real thing to show what durability costs.
SQLITE_NOT_DURABLE = "sqlite-normal-sync"
PG_ADMIN_URL = os.environ.get("HOOKWIRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test")
BACKENDS = ("sqlite", "postgresql")
EVENT_TYPE = "license.created"
DATA = {"key": "D08B53-C564F8-463EA5-F16A15-E35D6E-D2559B", "email": "someone@example.com"}
TENANT = "bench"
WEBHOOK_TOKEN = "bench-token-0123456789"
# The driver preloads and counts in transactions far larger than any request's,
# so it waits longer for the database than hookwire's default allows.
DRIVER_DATABASE_TIMEOUT_SECONDS = 300.0
# Rows per INSERT statement when preloading (both drivers handle this many at once).
PRELOAD_CHUNK_ROWS = 10_000


def new_secret_key() -> str:
    """A key for HOOKWIRE_SECRET_KEY, shared by the driver and hookwire's processes."""
    return Fernet.generate_key().decode()


@asynccontextmanager
async def fresh_database(backend: str, workdir: Path) -> AsyncIterator[str]:
    """An empty database (not migrated): a new SQLite file, or a new PostgreSQL database.

    Yields the URL as an operator writes it (``sqlite:///…``, ``postgresql://…``);
    a PostgreSQL database is dropped afterwards.
    """
    if backend.startswith("sqlite"):
        yield f"sqlite:///{workdir / f'{uuid.uuid4().hex}.db'}"
        return
    name = f"hookwire_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def open_storage(url: str, secret_key: str, backend: str = "") -> Storage:
    """The driver's storage on ``url``, readable by hookwire processes given ``secret_key``."""
    engine = create_engine(to_async_url(url), timeout_seconds=DRIVER_DATABASE_TIMEOUT_SECONDS)
    if backend == SQLITE_NOT_DURABLE:

        @sa_event.listens_for(engine.sync_engine, "connect")
        def _not_durable(dbapi_connection: Any, _record: object) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    cipher = TokenCipher(secret_key.encode())
    return Storage(engine, cipher, timeout_seconds=DRIVER_DATABASE_TIMEOUT_SECONDS)


@asynccontextmanager
async def fresh_storage(
    backend: str, workdir: Path, secret_key: str | None = None
) -> AsyncIterator[Storage]:
    """A migrated, empty database of ``backend`` opened as a :class:`Storage`.

    ``backend`` is ``sqlite``, ``postgresql``, or :data:`SQLITE_NOT_DURABLE`.
    """
    async with fresh_database(backend, workdir) as url:
        storage = open_storage(url, secret_key or new_secret_key(), backend)
        try:
            await migrate(storage.engine, storage.cipher)
            yield storage
        finally:
            await storage.close()


def webhook_fields(name: str, url: str, max_concurrency: int) -> dict[str, Any]:
    """What the API would store for a new webhook (every default included)."""
    body = WebhookCreate.model_validate(
        {"name": name, "url": url, "token": WEBHOOK_TOKEN, "maxConcurrency": max_concurrency}
    )
    return body.model_dump()


async def create_webhooks(
    storage: Storage, urls: list[str], max_concurrency: int, tenant_id: str = TENANT
) -> list[str]:
    """The tenant (created if new) with one webhook per URL; returns the webhook ids."""
    try:
        await storage.get_tenant(tenant_id)
    except NotFound:
        await storage.create_tenant(tenant_id, tenant_id)
    ids = []
    for i, url in enumerate(urls):
        hook = await storage.create_webhook(
            tenant_id, webhook_fields(f"bench-{i}", url, max_concurrency)
        )
        ids.append(hook.id)
    return ids


async def preload_deliveries(storage: Storage, webhook_ids: list[str], count: int) -> None:
    """``count`` events, each with one pending, due delivery, spread over ``webhook_ids``.

    Written straight into the tables (much faster than accepting events one by
    one), in one transaction per chunk, so a worker sees each chunk at once.
    """
    for start in range(0, count, PRELOAD_CHUNK_ROWS):
        now = utcnow()
        payload = build_payload(EVENT_TYPE, DATA, now)
        events, deliveries = [], []
        for i in range(start, min(count, start + PRELOAD_CHUNK_ROWS)):
            event_id = new_id("evt")
            events.append(
                {
                    "tenant_id": TENANT,
                    "id": event_id,
                    "event_type": EVENT_TYPE,
                    "payload": payload,
                    "idempotency_key": None,
                    "triggered_at": now,
                }
            )
            deliveries.append(
                {
                    "id": new_id("dlv"),
                    "tenant_id": TENANT,
                    "event_id": event_id,
                    "webhook_id": webhook_ids[i % len(webhook_ids)],
                    "event_type": EVENT_TYPE,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "lease_owner": None,
                    "next_trigger": "scheduled",
                    "retry_reason": None,
                    "last_status_code": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        async with storage.write() as conn:
            await conn.execute(t.events.insert(), events)
            await conn.execute(t.deliveries.insert(), deliveries)
        if storage.dialect.name == "postgresql":
            async with storage.write() as conn:
                # Fresh tables have no statistics: PostgreSQL would keep planning
                # the next chunk's foreign-key checks as scans of a table it
                # thinks is empty (quadratic). A running database has autovacuum.
                await conn.execute(sa.text(f"ANALYZE {t.events.name}, {t.deliveries.name}"))
                # Wake every worker at once, as accepting events does; SQLite has
                # a single worker, which finds the chunk at its next poll.
                await storage.dialect.wake_workers(conn)


async def count_deliveries(storage: Storage, **where: Any) -> int:
    """How many deliveries have the given column values (``state="pending"``, ``attempts=0``)."""
    query = sa.select(sa.func.count()).select_from(t.deliveries)
    for column, value in where.items():
        query = query.where(t.deliveries.c[column] == value)
    async with storage.read() as conn:
        return int(await conn.scalar(query) or 0)


async def count_retried(storage: Storage) -> int:
    """How many deliveries were attempted more than once."""
    query = sa.select(sa.func.count()).select_from(t.deliveries).where(t.deliveries.c.attempts > 1)
    async with storage.read() as conn:
        return int(await conn.scalar(query) or 0)


async def count_events(storage: Storage) -> int:
    """How many events are stored."""
    async with storage.read() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(t.events)) or 0)
