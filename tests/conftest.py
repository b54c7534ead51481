"""Shared fixtures: one storage per test on SQLite and on the real PostgreSQL.

PostgreSQL tests use ``HOOKWIRE_TEST_POSTGRES_URL`` (default: the local
server's ``test`` database). Each pytest process gets its own freshly created
and migrated database; each test starts from empty tables. When the server
cannot be reached the tests are skipped, unless
``HOOKWIRE_TEST_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which makes them fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hookwire.app import create_app
from hookwire.config import Settings
from hookwire.crypto import TokenCipher
from hookwire.metrics import Metrics
from hookwire.service import Services
from hookwire.storage import Storage, create_engine
from hookwire.storage.migrate import alembic_config, migrate
from hookwire.storage.tables import UTCDateTime, metadata

# The dashboard's browser fixtures (a real `hookwire serve`, headless Chromium).
pytest_plugins = ["tests.browser"]

ADMIN_KEY = "hw_admin_test-key-for-the-suite-0123456789"
SECRET_KEY = Fernet.generate_key().decode()
PG_ADMIN_URL = os.environ.get(
    "HOOKWIRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("HOOKWIRE_TEST_REQUIRE_POSTGRES", "") not in ("", "0")


async def _pg_admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _pg_url_for(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


async def _migrate_url(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A migrated PostgreSQL database for this pytest process (async URL)."""
    name = f"hookwire_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        message = f"PostgreSQL at {PG_ADMIN_URL} cannot be reached: {exc!r}"
        if REQUIRE_PG:
            pytest.fail(message)
        pytest.skip(message + " (set HOOKWIRE_TEST_REQUIRE_POSTGRES=1 to fail instead)")
    url = "postgresql+asyncpg://" + _pg_url_for(name).split("://", 1)[1]
    asyncio.run(_migrate_url(url))
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    asyncio.run(_migrate_url(f"sqlite+aiosqlite:///{path}"))
    return path


# For tests of what only PostgreSQL does (LISTEN/NOTIFY, several worker processes).
postgresql_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "hookwire.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    asyncio.run(_truncate(url))
    return url


async def _truncate(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            names = ", ".join(t.name for t in metadata.sorted_tables)
            await conn.execute(sa.text(f"TRUNCATE {names} CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        admin_key=ADMIN_KEY,
        secret_key=SECRET_KEY,
        allow_private_networks=True,
        retry_schedule=(1, 1, 1),
        retry_jitter=0,
    )


@pytest.fixture
async def storage(settings: Settings) -> AsyncIterator[Storage]:
    store = Storage(create_engine(settings.resolved_database_url), TokenCipher(SECRET_KEY))
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def services(settings: Settings, storage: Storage) -> Services:
    """The application layer over the test's storage, built as the app builds it."""
    return Services(storage, settings, Metrics())


@pytest.fixture
async def api(settings: Settings, storage: Storage) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client talking to the real ASGI app in-process."""
    app = create_app(settings, storage)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://hookwire.test",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        yield client


class TenantClients:
    """Creates tenants with their own API keys, each with a client that uses that key."""

    def __init__(self, api: httpx.AsyncClient) -> None:
        self.api = api
        self._clients: list[httpx.AsyncClient] = []

    async def create(self, name: str = "Acme") -> tuple[str, httpx.AsyncClient]:
        response = await self.api.post("/v1/tenants", json={"name": name})
        assert response.status_code == 201, response.text
        tenant_id = response.json()["id"]
        response = await self.api.post(f"/v1/tenants/{tenant_id}/api-keys", json={"name": "t"})
        assert response.status_code == 201, response.text
        client = httpx.AsyncClient(
            transport=self.api._transport,
            base_url=self.api.base_url,
            headers={"Authorization": f"Bearer {response.json()['key']}"},
        )
        self._clients.append(client)
        return tenant_id, client

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


@pytest.fixture
async def tenants(api: httpx.AsyncClient) -> AsyncIterator[TenantClients]:
    factory = TenantClients(api)
    try:
        yield factory
    finally:
        await factory.close()


@pytest.fixture
async def blank_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database without any table (a new one on PostgreSQL), for migrations."""
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url.replace("hookwire.db", "blank.db"))
        yield engine
        await engine.dispose()
        return
    name = f"hookwire_blank_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    engine = create_engine("postgresql+asyncpg://" + _pg_url_for(name).split("://", 1)[1])
    try:
        yield engine
    finally:
        await engine.dispose()
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def upgrade_to(engine: AsyncEngine, revision: str) -> None:
    """Run the migrations up to ``revision`` (to build a database as an older hookwire left it)."""

    def run(connection: sa.Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def insert_old_webhook(
    conn: AsyncConnection, at: datetime, params: dict[str, object], **columns: str
) -> None:
    """Tenant ``acme`` and its webhook ``wh_1`` as an older hookwire's schema stored them.

    Raw SQL, as the tables module describes the newest schema only; ``columns``
    adds the webhook columns that a later revision has (``format="'hookwire'"``)
    or sets others (``ordering="'fifo'"``), each as an SQL expression; ``params``
    binds the statement's parameters (``token``, the encrypted token, at least).
    """
    values: dict[str, str] = {
        "id": "'wh_1'",
        "tenant_id": "'acme'",
        "name": "'n'",
        "description": "''",
        "url": "'https://r.example/'",
        "token_encrypted": ":token",
        "events": "'[\"*\"]'",
        "active": "true",
        "signature_scheme": "'hookwire'",
        "max_concurrency": "10",
        "ordering": "'none'",
        "status": "'healthy'",
        "version": "1",
        "created_at": ":at",
        "updated_at": ":at",
        **columns,
    }
    stamp = sa.bindparam("at", at, type_=UTCDateTime())
    await conn.execute(
        sa.text(
            "INSERT INTO tenants (id, name, created_at, updated_at) "
            "VALUES ('acme', 'Acme', :at, :at)"
        ).bindparams(stamp)
    )
    await conn.execute(
        sa.text(
            f"INSERT INTO webhooks ({', '.join(values)}) VALUES ({', '.join(values.values())})"
        ).bindparams(stamp),
        params,
    )


async def insert_old_event(conn: AsyncConnection, at: datetime) -> None:
    """Event ``evt_1`` of tenant ``acme`` (``license.created``, data ``{}``), in raw SQL
    as :func:`insert_old_webhook` stores its tenant."""
    await conn.execute(
        sa.text(
            "INSERT INTO events (tenant_id, id, event_type, payload, triggered_at) "
            "VALUES ('acme', 'evt_1', 'license.created', :payload, :at)"
        ).bindparams(sa.bindparam("at", at, type_=UTCDateTime())),
        {"payload": b"{}"},
    )
